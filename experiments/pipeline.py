"""The full pipeline for one method on one dataset, label budget and seed; every stage resumable.

  python -m experiments.pipeline --method=laom_labels --labeled=4 --collect=configs/collect.py:small

methods: lapo, laom, laom_labels (LAM -> BC on latents -> decoder on the actor's outputs ->
evaluate), idm (supervised IDM -> BC on its predicted actions -> evaluate), bc (BC from scratch).
The dataset is --dataset, or the one --collect describes (built once, then reused). Writes
{out}/{task}/{method}/k{labeled}_s{seed}/summary.json.
"""
import json

from absl import flags
from ml_collections import config_flags

from configs import methods
from experiments import datasets, parallel, pipeline_run, runtime

_METHOD = flags.DEFINE_enum("method", None, list(methods.METHODS), "method")
_LABELED = flags.DEFINE_integer("labeled", 4, "labeled trajectories k")
_SEED = flags.DEFINE_integer("seed", 0, "seed of the LAM and downstream stages")
_VARIANT = flags.DEFINE_string("variant", "small", "config variant of every stage: paper, small or smoke")
_DATASET = flags.DEFINE_string("dataset", "", "a built dataset dir; '' -> the --collect one")
_COLLECT = config_flags.DEFINE_config_file("collect", "configs/collect.py:small", "collection config")
_OUT = flags.DEFINE_string("out", "runs/pipeline", "output root")
parallel.lam_overrides_flag()
parallel.downstream_overrides_flag()
_EVAL_SPLIT = flags.DEFINE_string("eval_split", "", "environment videos to evaluate on: train (the reference's) "
                                  "or eval (unseen); '' -> the downstream config's")
flags.mark_flag_as_required("method")


def main(argv):
    del argv
    pipe = pipeline_run.PipelineRun(_METHOD.value, datasets.dataset_path(_DATASET.value, _COLLECT.value), _LABELED.value,
                                _SEED.value, _VARIANT.value, _OUT.value, parallel.overrides_of("lam"),
                                parallel.overrides_of("downstream"), _EVAL_SPLIT.value)
    result = pipeline_run.run(pipe)
    print(json.dumps({"method": result["method"], "labeled": result["labeled"], "seed": result["seed"],
                      "normalized_return": result["eval"]["normalized_return"],
                      "expert_normalized_return": result["eval"]["expert_normalized_return"]}, indent=1))


if __name__ == "__main__":
    runtime.run(main)
