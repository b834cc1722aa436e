"""BC on latent actions: an actor o_t -> z regresses a frozen LAM's z(o_t, o_{t+1}) (resumable).

  python -m experiments.bc --config=configs/downstream.py:small --lam=runs/x/lam --out=runs/x/actor
"""
from lam_jax import runtime  # noqa: F401

from absl import app, flags  # noqa: E402

from lam_jax.stages import cli, downstream  # noqa: E402

_LAM = flags.DEFINE_string("lam", "", "pretraining run folder")


def main(argv):
    del argv
    lam = cli.require(_LAM.value, "lam")
    train = cli.train_split(cli.DATASET.value or cli.dataset_of_lam(lam))
    downstream.train_bc(cli.CONFIG.value, lam, train, cli.require(cli.OUT.value, "out"))
    print(f"bc actor: {cli.OUT.value}")


if __name__ == "__main__":
    app.run(main)
