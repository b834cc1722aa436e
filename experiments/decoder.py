"""Action decoder z -> a_t on a frozen actor's outputs for the k labeled trajectories (resumable).

  python -m experiments.decoder --config=configs/downstream.py:small --actor=runs/x/actor \
      --labeled=4 --out=runs/x/decoder
"""
from lam_jax import runtime  # noqa: F401

from absl import app, flags  # noqa: E402

from lam_jax.stages import cli, downstream  # noqa: E402

_ACTOR = flags.DEFINE_string("actor", "", "BC actor folder")
_LABELED = flags.DEFINE_integer("labeled", 4, "labeled trajectories k")


def main(argv):
    del argv
    actor = cli.require(_ACTOR.value, "actor")
    train = cli.train_split(cli.DATASET.value or cli.dataset_of_actor(actor))
    labeled = train.subset(train.dataset.labeled_indices(_LABELED.value))
    downstream.train_decoder(cli.CONFIG.value, actor, labeled, cli.require(cli.OUT.value, "out"))
    print(f"decoder: {cli.OUT.value}")


if __name__ == "__main__":
    app.run(main)
