"""The paper's Fig. 6 ladder at CPU scale, over seeds: LAPO -> +multi-step IDM -> +larger latent ->
+latent-space FDM -> +augmentations (LAOM) -> +supervision (LAOM+sup).

  python -m experiments.ladder --collect=configs/collect.py:small --seeds=0,1,2 --out=runs/ladder

Writes results.json (every rung x seed x metric), ladder.md (mean ± 95% CI and median
[min, max]) and ladder.png. Finished rung-seed runs are reused, so an interrupted ladder resumes.
"""
import json
import os
import sys

from lam_jax import runtime  # noqa: F401

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from lam_jax import ladder, methods, parallel  # noqa: E402
from lam_jax.stages import datasets  # noqa: E402

_SEEDS = flags.DEFINE_list("seeds", "0,1,2", "seeds")
_VARIANT = flags.DEFINE_string("variant", "small", "LAM config variant")
_RUNGS = flags.DEFINE_list("rungs", "", "a subset of rungs by name (default: all)")
_DATASET = flags.DEFINE_string("dataset", "", "a built dataset dir; '' -> the --collect one")
_COLLECT = config_flags.DEFINE_config_file("collect", "configs/collect.py:small", "collection config")
_OUT = flags.DEFINE_string("out", "runs/ladder", "output folder")
_SET = flags.DEFINE_multi_string("lam_set", [], "LAM config override key=value for every rung")
_WORKERS = flags.DEFINE_integer("workers", 1, "runs side by side, one per core with single-threaded XLA "
                                "(numbers reproduce for the same setting)")


def main(argv):
    del argv
    dataset = datasets.require_eval_split(datasets.dataset_path(_DATASET.value, _COLLECT.value), "the ladder")
    large = methods.lam_config("laom", _VARIANT.value, overrides=_SET.value).model.latent_dim
    all_rungs = ladder.rungs(large)
    chosen = [r for r in all_rungs if not _RUNGS.value or r.name in _RUNGS.value]
    if _RUNGS.value and len(chosen) != len(_RUNGS.value):
        raise app.UsageError(f"unknown rung in {_RUNGS.value}; rungs: {[r.name for r in all_rungs]}")
    seeds = [int(s) for s in _SEEDS.value]
    if _WORKERS.value > 1:
        commands = [c for r in chosen for s in seeds
                    if (c := ladder.rung_command(r, s, dataset, _VARIANT.value, _OUT.value, _SET.value))]
        parallel.run_commands(commands, _WORKERS.value, os.path.join(_OUT.value, "logs"))
    results = {}
    for i, rung in enumerate(chosen):
        results[rung.name] = {}
        for seed in seeds:
            print(f"[{i * len(seeds) + seeds.index(seed) + 1}/{len(chosen) * len(seeds)}] {rung.label}, seed {seed}",
                  flush=True)
            results[rung.name][str(seed)] = ladder.run_rung(rung, seed, dataset, _VARIANT.value, _OUT.value, _SET.value)
    command = "python -m experiments.ladder " + " ".join(sys.argv[1:])
    os.makedirs(_OUT.value, exist_ok=True)
    with open(os.path.join(_OUT.value, "results.json"), "w") as f:
        json.dump({"dataset": dataset, "variant": _VARIANT.value, "command": command, "overrides": _SET.value,
                   "rungs": {r.name: {"label": r.label, "method": r.method, "overrides": r.overrides}
                             for r in chosen}, "results": results}, f, indent=1)
    notes = ["How the `small` regime was chosen, and what else was tried: `reports/ladder/regime_search.md`."]
    print(f"report: {ladder.write_report(_OUT.value, results, chosen, dataset, command, notes)}")


if __name__ == "__main__":
    app.run(main)
