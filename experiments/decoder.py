"""Action decoder z -> a_t on a frozen actor's outputs for the k labeled trajectories (resumable).

  python -m experiments.decoder --config=configs/downstream.py:small --actor=runs/x/actor \
      --labeled=4 --out=runs/x/decoder
"""

from absl import flags

from experiments import runtime, stage_flags
from lam_jax.stages import downstream

_ACTOR = flags.DEFINE_string("actor", "", "BC actor folder")
_LABELED = flags.DEFINE_integer("labeled", 4, "labeled trajectories k")


def main(argv):
    del argv
    actor = stage_flags.require(_ACTOR.value, "actor")
    train = stage_flags.train_split(stage_flags.DATASET.value or stage_flags.dataset_of_actor(actor))
    labeled = train.subset(train.dataset.labeled_indices(_LABELED.value))
    out = stage_flags.require(stage_flags.OUT.value, "out")
    downstream.train_decoder(stage_flags.CONFIG.value, actor, labeled, out)
    print(f"decoder: {out}")


if __name__ == "__main__":
    runtime.run(main)
