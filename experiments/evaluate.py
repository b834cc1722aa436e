"""A trained policy in its dataset's DCS setting: decoder(actor(o)), or actor(o) for IDM/BC actors.

  python -m experiments.evaluate --config=configs/downstream.py:small --actor=runs/x/actor \
      --decoder=runs/x/decoder

The reference's protocol by default (25 episodes, seeds 0-24, training videos); unseen videos
with --config.eval.split=eval. Writes {actor}/eval.json (or --out).
"""
import json
import os

from absl import flags

from lam_jax.data.episodes import DatasetEpisodes
from experiments import runtime, stage_flags
from lam_jax.stages import downstream

_ACTOR = flags.DEFINE_string("actor", "", "actor folder")
_DECODER = flags.DEFINE_string("decoder", "", "decoder folder (omit for IDM and BC actors)")


def main(argv):
    del argv
    actor = stage_flags.require(_ACTOR.value, "actor")
    dataset = stage_flags.DATASET.value or stage_flags.dataset_of_actor(actor)
    if not dataset:
        raise SystemExit("give --dataset: it names the environment and distractors to evaluate in")
    dcfg = stage_flags.CONFIG.value
    metadata = DatasetEpisodes(dataset, "train").dataset.metadata
    policy, frame_stack = downstream.load_policy(actor, _DECODER.value or None)
    out = stage_flags.OUT.value or os.path.join(actor, "eval.json")
    result = downstream.evaluate(policy, frame_stack, downstream.eval_env(metadata, dcfg), dcfg, out)
    print(json.dumps({k: result[k] for k in ("mean_return", "normalized_return", "expert_normalized_return")},
                     indent=1))


if __name__ == "__main__":
    runtime.run(main)
