"""BC from scratch: an actor o_t -> a_t on the k labeled trajectories only (resumable).

  python -m experiments.bc_scratch --config=configs/downstream.py:small --dataset=DATA --labeled=4 \
      --out=runs/x/bc_actor
"""
from lam_jax import runtime  # noqa: F401

from absl import app, flags  # noqa: E402

from lam_jax.stages import cli, downstream  # noqa: E402

_LABELED = flags.DEFINE_integer("labeled", 4, "labeled trajectories k")


def main(argv):
    del argv
    train = cli.train_split(cli.DATASET.value)
    labeled = train.subset(train.dataset.labeled_indices(_LABELED.value))
    downstream.train_bc_scratch(cli.CONFIG.value, labeled, cli.require(cli.OUT.value, "out"))
    print(f"bc actor: {cli.OUT.value}")


if __name__ == "__main__":
    app.run(main)
