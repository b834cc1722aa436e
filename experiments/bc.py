"""BC on latent actions: an actor o_t -> z regresses a frozen LAM's z(o_t, o_{t+1}) (resumable).

  python -m experiments.bc --config=configs/downstream.py:small --lam=runs/x/lam --out=runs/x/actor
"""
from experiments import runtime  # noqa: F401

from absl import app, flags  # noqa: E402

from experiments import stage_flags  # noqa: E402
from lam_jax.stages import downstream  # noqa: E402

_LAM = flags.DEFINE_string("lam", "", "pretraining run folder")


def main(argv):
    del argv
    lam = stage_flags.require(_LAM.value, "lam")
    train = stage_flags.train_split(stage_flags.DATASET.value or stage_flags.dataset_of_lam(lam))
    downstream.train_bc(stage_flags.CONFIG.value, lam, train, stage_flags.require(stage_flags.OUT.value, "out"))
    print(f"bc actor: {stage_flags.OUT.value}")


if __name__ == "__main__":
    app.run(main)
