"""The paper's Fig. 6 ladder at CPU scale, over seeds: LAPO -> +multi-step IDM -> +larger latent ->
+latent-space FDM -> +augmentations (LAOM) -> +supervision (LAOM+sup).

  python -m experiments.ladder --collect=configs/collect.py:small --seeds=0,1,2 --out=runs/ladder \
      [--clean_preset=vanilla | --clean_dataset=DIR] [--clean_rungs=lapo,latent,augment] \
      [--budget_rungs=lapo,augment --budget_steps=1000,3000,10000 --budget_seeds=0,1]

Writes results.json (every rung x seed x metric), ladder.md (mean ± 95% CI and median
[min, max]) and ladder.png. With a dataset without distractors (collected like --collect but with
the given preset, or given), the --clean_rungs also run on it (under OUT/clean) and the report
compares both conditions (ladder_clean.png). With --budget_rungs, those rungs also train once per
seed to the largest --budget_steps (under OUT/budget) and both probes are read at each budget from
the kept checkpoints (ladder_budget.png). Finished rung-seed runs are reused, so an interrupted
ladder resumes.
"""
import copy
import os
import sys

from absl import app, flags
from ml_collections import config_flags

from configs import ladder as ladder_config
from experiments import cost, datasets, ladder_report, ladder_runs, parallel, runtime
from lam_jax.training import run_dir

_SEEDS = flags.DEFINE_list("seeds", "0,1,2", "seeds")
_VARIANT = flags.DEFINE_string("variant", "small", "LAM config variant")
_RUNGS = flags.DEFINE_list("rungs", "", "a subset of rungs by name (default: all)")
_DATASET = flags.DEFINE_string("dataset", "", "a built dataset dir; '' -> the --collect one")
_COLLECT = config_flags.DEFINE_config_file("collect", "configs/collect.py:small", "collection config")
_OUT = flags.DEFINE_string("out", "runs/ladder", "output folder")
parallel.lam_overrides_flag()
_CLEAN_PRESET = flags.DEFINE_string("clean_preset", "", "collect the data without distractors like --collect, "
                                    "with this env preset (e.g. vanilla); '' -> no such condition")
_CLEAN_DATASET = flags.DEFINE_string("clean_dataset", "", "a built dataset dir without distractors instead")
_CLEAN_RUNGS = flags.DEFINE_list("clean_rungs", None, "rungs also run on the clean data (default: configs/ladder.py's)")
_BUDGET_RUNGS = flags.DEFINE_list("budget_rungs", [], "rungs whose probes are read at every --budget_steps")
_BUDGET_STEPS = flags.DEFINE_list("budget_steps", ["1000", "3000", "10000"], "updates at which to read them")
_BUDGET_SEEDS = flags.DEFINE_list("budget_seeds", None, "seeds of the budget runs (default: --seeds)")
_FROM_RESULTS = parallel.from_results_flag("results.json")
_WORKERS = flags.DEFINE_integer("workers", 1, "runs side by side, one per core with single-threaded XLA "
                                "(numbers reproduce for the same setting)")


def main(argv):
    del argv
    if _FROM_RESULTS.value:
        return _report_from_results()
    meter = cost.Meter()
    dataset = datasets.require_eval_split(datasets.dataset_path(_DATASET.value, _COLLECT.value), "the ladder")
    all_rungs, overrides = ladder_runs.rungs(_VARIANT.value), parallel.overrides_of("lam")
    clean_rungs = _CLEAN_RUNGS.value or ladder_config.get_config(_VARIANT.value).clean_rungs
    chosen = [r for r in all_rungs if not _RUNGS.value or r.name in _RUNGS.value]
    if _RUNGS.value and len(chosen) != len(_RUNGS.value):
        raise app.UsageError(f"unknown rung in {_RUNGS.value}; rungs: {[r.name for r in all_rungs]}")
    seeds = [int(s) for s in _SEEDS.value]
    budget_seeds = [int(s) for s in _BUDGET_SEEDS.value] if _BUDGET_SEEDS.value else seeds
    unknown = (set(clean_rungs) | set(_BUDGET_RUNGS.value)) - {r.name for r in all_rungs}
    if unknown:
        raise app.UsageError(f"unknown rung in --clean_rungs or --budget_rungs: {sorted(unknown)}")
    steps = sorted(int(x) for x in _BUDGET_STEPS.value)
    clean_dataset = _clean_dataset()
    # (condition, dataset, output folder, rungs, overrides, seeds): the distracted data, the clean one, the budget runs
    conditions = [("with", dataset, _OUT.value, chosen, overrides, seeds)]
    if clean_dataset:
        conditions.append(("without", clean_dataset, os.path.join(_OUT.value, "clean"),
                           [r for r in chosen if r.name in clean_rungs], overrides, seeds))
    if _BUDGET_RUNGS.value:
        conditions.append(("budget", dataset, os.path.join(_OUT.value, "budget"),
                           [r for r in all_rungs if r.name in _BUDGET_RUNGS.value],
                           [*overrides, *ladder_runs.budget_overrides(steps)], budget_seeds))
    jobs = {(condition, rung.name, seed): ladder_runs.rung_job(rung, seed, data, _VARIANT.value, out, extra)
            for condition, data, out, rungs, extra, runs_seeds in conditions for rung in rungs for seed in runs_seeds}
    to_train = sum(job.read() is None for job in jobs.values())
    reports = parallel.execute(list(jobs.values()), _WORKERS.value, os.path.join(_OUT.value, "logs"))
    results = {condition: {} for condition, *_ in conditions}
    for ((condition, rung, seed), job), pretrained in zip(jobs.items(), reports):
        r = ladder_runs.rung_result(pretrained, job.workdir)
        if condition == "budget":
            r = {str(s): ladder_runs.budget_point(job.workdir, s) for s in steps}
        results[condition].setdefault(rung, {})[str(seed)] = r
    command = "python -m experiments.ladder " + " ".join(sys.argv[1:])
    run_dir.write_json(os.path.join(_OUT.value, "results.json"), {
        "dataset": dataset, "clean_dataset": clean_dataset, "variant": _VARIANT.value, "command": command,
        "overrides": overrides, "rungs": {r.name: {"label": r.label, "method": r.method, "overrides": r.overrides}
                                           for r in chosen}, "results": results["with"],
        "clean_results": results.get("without", {}), "budget_steps": steps,
        "budget_results": results.get("budget", {})})
    notes = ["How the `small` regime was chosen, and what else was tried: `reports/ladder/regime_search.md`.",
             cost.line(meter.add(_OUT.value, to_train))]
    path = ladder_report.write_report(_OUT.value, results["with"], chosen, dataset, command, notes,
                                      results.get("without"), clean_dataset, results.get("budget"), steps)
    print(f"report: {path}")


def _report_from_results() -> None:
    """The report of an earlier ladder, from what its results.json keeps (e.g. after the report's
    statistics changed, on a machine without its runs)."""
    saved = run_dir.read_json(os.path.join(_OUT.value, "results.json"))
    chosen = [ladder_runs.Rung(name, r["label"], r["method"], tuple(r["overrides"]))
              for name, r in saved["rungs"].items()]
    notes = ["How the `small` regime was chosen, and what else was tried: `reports/ladder/regime_search.md`.",
             cost.line(cost.read(_OUT.value))]
    path = ladder_report.write_report(_OUT.value, saved["results"], chosen, saved["dataset"], saved["command"], notes,
                                      saved["clean_results"] or None, saved["clean_dataset"],
                                      saved["budget_results"] or None, saved["budget_steps"])
    print(f"report: {path}")


def _clean_dataset() -> str:
    """The dataset without distractors: given, or collected like --collect with --clean_preset."""
    if _CLEAN_DATASET.value or not _CLEAN_PRESET.value:
        path = _CLEAN_DATASET.value
    else:
        cfg = copy.deepcopy(_COLLECT.value)
        cfg.env.preset = _CLEAN_PRESET.value
        path = datasets.dataset_path("", cfg)
    return datasets.require_eval_split(path, "the ladder's clean condition") if path else ""


if __name__ == "__main__":
    runtime.run(main)
