"""BC on latent actions: an actor o_t -> z regresses a frozen LAM's z(o_t, o_{t+1}) (resumable).

  python -m experiments.bc --config=configs/downstream.py:small --lam=runs/x/lam --out=runs/x/actor
"""

from absl import flags

from experiments import runtime, stage_flags
from lam_jax.stages import downstream

_LAM = flags.DEFINE_string("lam", "", "pretraining run folder")


def main(argv):
    del argv
    lam = stage_flags.require(_LAM.value, "lam")
    train = stage_flags.train_split(stage_flags.DATASET.value or stage_flags.dataset_of_lam(lam))
    downstream.train_bc(stage_flags.CONFIG.value, lam, train, stage_flags.require(stage_flags.OUT.value, "out"))
    print(f"bc actor: {stage_flags.OUT.value}")


if __name__ == "__main__":
    runtime.run(main)
