"""The regime search (configs/regime_search.py): ladder rungs at several variants and overrides, 3
seeds, with distractors; one table of held-out ridge and online probes, each row against LAPO.

  python -m experiments.regime_search --collect=configs/collect.py:small --seeds=0,1,2 \
      --out=runs/search --workers=2 [--arms=mini,lapo]

Writes OUT/regime_search.md, OUT/regime_search.png and OUT/results.json. Finished runs are reused
(also those the equivalent ladder commands made), so an interrupted search resumes. --lam.KEY=VALUE
applies to every run, after its arm's overrides.
"""
import copy
import os
import sys

from absl import app, flags
from ml_collections import config_flags

from configs import common, regime_search as search_config
from experiments import datasets, ladder_runs, parallel, regime_report, regime_trend, runtime
from lam_jax.training import run_dir

_SEEDS = flags.DEFINE_list("seeds", "0,1,2", "seeds")
_ARMS = flags.DEFINE_list("arms", "", "a subset of arms by name (default: all)")
_DATASET = flags.DEFINE_string("dataset", "", "a built dataset dir; '' -> the --collect one")
_COLLECT = config_flags.DEFINE_config_file("collect", "configs/collect.py:small", "collection config")
_OUT = flags.DEFINE_string("out", "runs/search", "output folder")
parallel.lam_overrides_flag()
_WORKERS = flags.DEFINE_integer("workers", 1, "runs side by side, one per core (numbers reproduce per setting)")


def main(argv):
    del argv
    cfg = search_config.get_config()
    dataset = datasets.require_eval_split(datasets.dataset_path(_DATASET.value, _COLLECT.value), "the regime search")
    own_data = {}  # an arm's collect overrides -> its dataset, collected like --collect otherwise
    arms = [regime_report.Arm(*a) for a in cfg.arms if not _ARMS.value or a[0] in _ARMS.value]
    if _ARMS.value and len(arms) != len(_ARMS.value):
        raise app.UsageError(f"unknown arm in {_ARMS.value}; arms: {[a[0] for a in cfg.arms]}")
    seeds = [int(s) for s in _SEEDS.value]
    jobs = {}
    for arm in arms:
        data = dataset
        if arm.collect:
            if arm.collect not in own_data:
                own_data[arm.collect] = datasets.require_eval_split(datasets.dataset_path(
                    "", common.override(copy.deepcopy(_COLLECT.value), arm.collect)), f"arm {arm.name}")
            data = own_data[arm.collect]
        by_name = {r.name: r for r in ladder_runs.rungs(arm.variant)}
        for rung in arm.rungs:
            for seed in seeds:
                jobs[(arm.name, rung, seed)] = ladder_runs.rung_job(
                    by_name[rung], seed, data, arm.variant, os.path.join(_OUT.value, arm.name),
                    (*arm.overrides, *parallel.overrides_of("lam")))
    reports = parallel.execute(list(jobs.values()), _WORKERS.value, os.path.join(_OUT.value, "logs"))
    results = {}
    for ((arm, rung, seed), job), pretrained in zip(jobs.items(), reports):
        results.setdefault(arm, {}).setdefault(rung, {})[str(seed)] = ladder_runs.rung_result(pretrained, job.workdir)
    trend = [t for t in cfg.trend if all(row[0] in results for row in t[1:3])]
    regime_trend.step_probes(results, trend, cfg.trend_step)
    command = "python -m experiments.regime_search " + " ".join(sys.argv[1:])
    run_dir.write_json(os.path.join(_OUT.value, "results.json"), {
        "dataset": dataset, "arm_datasets": {" ".join(k): v for k, v in own_data.items()}, "command": command,
        "arms": [list(a) for a in cfg.arms], "results": results})
    written = regime_report.write_report(_OUT.value, results, arms, cfg.baseline, dataset, command,
                                         (trend, cfg.trend_step))
    print(f"report: {written}")


if __name__ == "__main__":
    runtime.run(main)
