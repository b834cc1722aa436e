"""Sweep the pipeline over methods x label budgets x seeds on one dataset, then write the report.

  python -m experiments.sweep --methods=lapo,laom,laom_labels,idm,bc --labeled=2,4,8 --seeds=0,1,2 \
      --collect=configs/collect.py:small --out=runs/sweep

Finished runs (their summary.json) are skipped, so an interrupted sweep resumes.
"""
import itertools
import os
import sys

from absl import flags
from ml_collections import config_flags

from configs import methods
from experiments import datasets, parallel, pipeline_run, runtime, sweep_report
from lam_jax.training import run_dir

_METHODS = flags.DEFINE_list("methods", "lapo,laom,laom_labels,idm,bc", "methods")
_LABELED = flags.DEFINE_list("labeled", "2,4,8", "label budgets k")
_SEEDS = flags.DEFINE_list("seeds", "0,1,2", "seeds")
_VARIANT = flags.DEFINE_string("variant", "small", "config variant of every stage")
_DATASET = flags.DEFINE_string("dataset", "", "a built dataset dir; '' -> the --collect one")
_COLLECT = config_flags.DEFINE_config_file("collect", "configs/collect.py:small", "collection config")
_OUT = flags.DEFINE_string("out", "runs/sweep", "output root")
parallel.lam_overrides_flag()
parallel.downstream_overrides_flag()
_WORKERS = flags.DEFINE_integer("workers", 1, "pipelines side by side, one per core (numbers reproduce per setting)")


def main(argv):
    del argv
    for m in _METHODS.value:
        methods.check(m)
    dataset = datasets.dataset_path(_DATASET.value, _COLLECT.value)
    grid = list(itertools.product(_METHODS.value, [int(k) for k in _LABELED.value], [int(s) for s in _SEEDS.value]))
    pipes = [pipeline_run.PipelineRun(method, dataset, k, seed, _VARIANT.value, _OUT.value, parallel.overrides_of("lam"),
                                  parallel.overrides_of("downstream")) for method, k, seed in grid]
    summaries = parallel.execute([parallel.pipeline_job(pipe) for pipe in pipes], _WORKERS.value,
                                 os.path.join(_OUT.value, "logs"))
    run_dir.write_json(os.path.join(_OUT.value, "summaries.json"), summaries)
    path = sweep_report.write_pipeline_report(_OUT.value, summaries, "python -m experiments.sweep " +
                                                 " ".join(sys.argv[1:]))
    print(f"report: {path}")


if __name__ == "__main__":
    runtime.run(main)
