"""The README's main job: the paper's premise over seeds, then every downstream stage, on CPU.

  python -m experiments.main [--seeds=0,1,2] [--labeled=4] [--out=runs/main] [--collect.env.davis_path=DAVIS]
                             [--lam.num_steps=3000 ...] [--downstream.bc.num_steps=3000 ...]

--lam.KEY=VALUE and --downstream.KEY=VALUE override every run's config, key by key after the
budget of configs/main.py (--lam.num_steps=3000 alone keeps its warmup_steps=450).

Collects a small cheetah-run dataset with the paper's distractors (procedural background videos
unless a DAVIS folder is given) and the same one without them, and trains LAPO on both for every
seed (the online probe, the paper's metric, and the held-out ridge probe). On the data without
distractors it then runs the rest of the pipeline from each seed's LAPO (BC on latent actions, the
action decoder on the k labeled trajectories, evaluation in the environment), BC on the true actions
of every training trajectory as the ceiling, and a random policy. Writes {out}/results.md with a
verdict per effect, probes.png and returns.png, and prints the verdicts. Everything is reused when
run again (datasets, checkpoints, finished runs), and a second run reproduces the numbers.
"""
import concurrent.futures
import copy
import os
import sys

import numpy as np
from absl import flags
from ml_collections import config_flags

from configs import collect as collect_configs, main as main_config
from experiments import datasets, ladder_runs, main_report, parallel, pipeline_run, runtime
from lam_jax.data.episodes import DatasetEpisodes
from lam_jax.stages import downstream
from lam_jax.training import run_dir

_SEEDS = flags.DEFINE_list("seeds", "0,1,2", "seeds")
_LABELED = flags.DEFINE_integer("labeled", 4, "labeled trajectories k of the action decoder")
_VARIANT = flags.DEFINE_string("variant", "small", "config variant of every stage (smoke: a quick check)")
_COLLECT = config_flags.DEFINE_config_file("collect", "configs/collect.py:small",
                                           "collection config (with distractors)")
_OUT = flags.DEFINE_string("out", "runs/main", "output folder")
parallel.lam_overrides_flag()
parallel.downstream_overrides_flag()
_WORKERS = flags.DEFINE_integer("workers", 2, "runs side by side, one per core (numbers reproduce per setting)")
_FROM_RESULTS = parallel.from_results_flag("summaries.json", "; its datasets must be here; give the job's "
                                           "other flags again")
CONDITIONS = ("with", "without")  # distractors


def main(argv):
    del argv
    if _VARIANT.value == "smoke":  # a quick end-to-end check of the job itself
        _COLLECT.value.update(collect_configs.SMOKE_SIZES)  # collect.py:smoke's data
    config = main_config.get_config(_VARIANT.value)
    saved = run_dir.read_json(os.path.join(_OUT.value, "summaries.json")) if _FROM_RESULTS.value else None
    data = saved["datasets"] if saved else _datasets(config)
    down_data = data[config.downstream_condition]
    train = DatasetEpisodes(down_data, "train")
    dcfg = pipeline_run.downstream_config(pipeline_run.PipelineRun("bc", down_data, _LABELED.value, 0, _VARIANT.value,
                                                           downstream_overrides=_downstream_set(config)))
    env_cfg = downstream.eval_env(train.dataset.metadata, dcfg)
    if saved:
        results = saved
    else:
        results = _run(config, data, train, env_cfg, dcfg)
        results["command"] = " ".join(["python -m experiments.main", *sys.argv[1:]])
    path, verdicts = main_report.write(_OUT.value, results, env_cfg, downstream.steps(dcfg.bc, train))
    print(verdicts)
    print(f"report: {path}")


def _datasets(config) -> dict:
    """Both conditions' datasets: --collect's, and the same collection under the clean preset."""
    clean = copy.deepcopy(_COLLECT.value)
    clean.env.preset = config.clean_preset
    return {cond: datasets.require_eval_split(datasets.dataset_path("", cfg), "the main job")
            for cond, cfg in (("with", _COLLECT.value), ("without", clean))}


def _downstream_set(config) -> tuple:
    return (*config.downstream_budget, *parallel.overrides_of("downstream"))


def _run(config, data: dict, train, env_cfg, dcfg) -> dict:
    """Every run (reused where finished) and the random policy, as summaries.json keeps them."""
    rung = next(r for r in ladder_runs.rungs(_VARIANT.value) if r.name == config.rung)
    lam_set = (*rung.overrides, *config.lam_budget, *parallel.overrides_of("lam"))
    down_set, seeds, k = _downstream_set(config), [int(s) for s in _SEEDS.value], _LABELED.value
    ceiling = max(map(int, train.dataset.metadata["labeled_subsets"]))  # every training trajectory at `small`
    folder = lambda cond: os.path.join(_OUT.value, f"{cond}_distractors")  # noqa: E731
    # The downstream condition's LAMs are its pipelines' own; the other condition trains LAMs alone.
    down, other = config.downstream_condition, next(c for c in CONDITIONS if c != config.downstream_condition)
    pipe = lambda method, labeled, seed, overrides: parallel.pipeline_job(pipeline_run.PipelineRun(  # noqa: E731
        method, data[down], labeled, seed, _VARIANT.value, folder(down), overrides, down_set))
    lam_pipes = [pipe(config.method, k, seed, lam_set) for seed in seeds]
    lams = [parallel.pretrain_job(config.method, _VARIANT.value, [*lam_set, f"seed={seed}",
                                                                   f"data.labeled_trajectories={k}"],
                                  os.path.join(folder(other), config.method, f"seed{seed}"), data[other])
            for seed in seeds]
    bc_pipes = [pipe("bc", ceiling, seed, ()) for seed in seeds]
    jobs = [*lam_pipes, *lams, *bc_pipes]
    # Costliest first (a LAM and every downstream stage, then a LAM, then BC alone), so that the cheapest
    # runs fill the end of the job; the random policy's episodes run beside them.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        random_path = os.path.join(_OUT.value, f"random_policy_{env_cfg.preset}.json")
        random_done = pool.submit(_random_policy, random_path, env_cfg, train.action_dim, dcfg)
        done = parallel.execute(jobs, min(_WORKERS.value, len(os.sched_getaffinity(0))),
                                os.path.join(_OUT.value, "logs"))
        random_returns = random_done.result()
    n = len(seeds)
    lam_runs, lam_only, bc_runs = done[:n], done[n:2 * n], done[2 * n:]
    premise = {down: [main_report.lam_result(s["lam"], s["seed"]) for s in lam_runs],
               other: [main_report.lam_result(r, seed) for r, seed in zip(lam_only, seeds)]}
    return {"datasets": data, "method": config.method, "rung": config.rung, "labeled": k, "ceiling_labeled": ceiling,
            "downstream_condition": down, "premise": premise,
            "runs": [*lam_runs, *bc_runs], "random_policy_returns": random_returns}


def _random_policy(path: str, env_cfg, action_dim: int, dcfg) -> list[float]:
    """A uniformly random policy's returns in the evaluation setting, measured once and kept in ``path``:
    actions ~ U[-1, 1]^A from a fixed generator (the same numbers every run)."""
    if not os.path.exists(path):
        from data_pipeline import vec_env  # the simulator: imported only to evaluate
        seeds, rng = [dcfg.eval.seed + i for i in range(dcfg.eval.episodes)], np.random.default_rng(0)
        returns = vec_env.run_episodes(lambda obs: rng.uniform(-1, 1, (len(obs), action_dim)), env_cfg, seeds, 1,
                                       dcfg.eval.workers, dcfg.eval.max_steps or None, progress=False)
        run_dir.write_json(path, {"returns": returns, "seeds": seeds})
    return run_dir.read_json(path)["returns"]


if __name__ == "__main__":
    runtime.run(main)
