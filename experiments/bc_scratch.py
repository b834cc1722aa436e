"""BC from scratch: an actor o_t -> a_t on the k labeled trajectories only (resumable).

  python -m experiments.bc_scratch --config=configs/downstream.py:small --dataset=DATA --labeled=4 \
      --out=runs/x/bc_actor
"""

from absl import flags

from experiments import runtime, stage_flags
from lam_jax.stages import downstream

_LABELED = flags.DEFINE_integer("labeled", 4, "labeled trajectories k")


def main(argv):
    del argv
    train = stage_flags.train_split(stage_flags.DATASET.value)
    labeled = train.subset(train.dataset.labeled_indices(_LABELED.value))
    downstream.train_bc_scratch(stage_flags.CONFIG.value, labeled, stage_flags.require(stage_flags.OUT.value, "out"))
    print(f"bc actor: {stage_flags.OUT.value}")


if __name__ == "__main__":
    runtime.run(main)
