"""The paper's Fig. 9a at CPU scale: eval-split action MSE of IDM vs LAOM+supervision by label budget.

  python -m experiments.fig9a --variant=small --collect=configs/collect.py:small --labeled=2,4,8,16 --seeds=0,1,2 \
      --out=runs/fig9a --workers=2 [--lam.KEY=VALUE ...]

Writes results.json, fig9a.md (mean ± 95% CI over seeds) and fig9a.png; finished runs are reused.
"""
import os
import sys

from absl import flags
from ml_collections import config_flags

from experiments import fig9a_report, parallel
from configs import fig9a as fig9a_config
from experiments import datasets, runtime
from lam_jax.training import run_dir

_LABELED = flags.DEFINE_list("labeled", "2,4,8,16", "label budgets k")
_SEEDS = flags.DEFINE_list("seeds", "0,1,2", "seeds")
_VARIANT = flags.DEFINE_string("variant", "small", "LAM config variant")
_DATASET = flags.DEFINE_string("dataset", "", "a built dataset dir; '' -> the --collect one")
_COLLECT = config_flags.DEFINE_config_file("collect", "configs/collect.py:small", "collection config")
_OUT = flags.DEFINE_string("out", "runs/fig9a", "output folder")
parallel.lam_overrides_flag()
_FROM_RESULTS = parallel.from_results_flag("results.json")
_WORKERS = flags.DEFINE_integer("workers", 1, "runs side by side, one per core (numbers reproduce per setting)")


def main(argv):
    del argv
    if _FROM_RESULTS.value:
        saved = run_dir.read_json(os.path.join(_OUT.value, "results.json"))
        budgets = sorted({int(k) for per_method in saved["results"].values() for k in per_method})
        path = fig9a_report.write_report(_OUT.value, saved["results"], budgets, saved["dataset"], saved["command"])
        print(f"report: {path}")
        return
    dataset = datasets.require_eval_split(datasets.dataset_path(_DATASET.value, _COLLECT.value), "fig9a")
    budgets = [int(k) for k in _LABELED.value]
    seeds = [int(s) for s in _SEEDS.value]
    config = fig9a_config.get_config(_VARIANT.value)
    lam_set = (*config.lam_budget, *parallel.overrides_of("lam"))
    jobs = {(m, k, s): fig9a_report.job(m, k, s, dataset, _VARIANT.value, _OUT.value, lam_set)
            for m in config.methods for k in budgets for s in seeds}
    results = {m: {str(k): {} for k in budgets} for m in config.methods}
    reports = parallel.execute(list(jobs.values()), _WORKERS.value, os.path.join(_OUT.value, "logs"))
    for ((method, k, seed), job), pretrained in zip(jobs.items(), reports):
        results[method][str(k)][str(seed)] = fig9a_report.result(pretrained, job.workdir)
    command = "python -m experiments.fig9a " + " ".join(sys.argv[1:])
    run_dir.write_json(os.path.join(_OUT.value, "results.json"), {"dataset": dataset, "command": command,
                                                                  "results": results})
    print(f"report: {fig9a_report.write_report(_OUT.value, results, budgets, dataset, command)}")


if __name__ == "__main__":
    runtime.run(main)
