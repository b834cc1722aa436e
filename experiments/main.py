"""The README's main job: the ladder's end points and downstream control, over seeds, on CPU.

  python -m experiments.main [--seeds=0,1,2] [--labeled=4] [--out=runs/main] [--collect.env.davis_path=DAVIS]
                             [--lam.num_steps=1500 ...] [--downstream.bc.num_steps=3000 ...]

--lam.KEY=VALUE and --downstream.KEY=VALUE override every run's config, key by key after the
budget of configs/main.py (--lam.num_steps=1500 alone keeps its warmup_steps=360).

Collects a small cheetah-run dataset with the paper's distractors (procedural background videos
unless a DAVIS folder is given), then for LAPO (k=1, latent 128), LAOM and LAOM+supervision and
every seed runs the whole pipeline: LAM pretraining (paper metric and held-out probes), BC on
latent actions, the action decoder on the k labeled trajectories, and evaluation in the
environment. A random policy's return is measured in the same setting for scale. Writes
{out}/results.md with returns.png and probes.png, and prints the table. Everything is reused when
run again (datasets, checkpoints, finished runs), and a second run reproduces the numbers.
"""
import concurrent.futures
import os
import sys

from experiments import runtime  # noqa: F401

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from configs import collect as collect_configs  # noqa: E402
from data_pipeline import vec_env  # noqa: E402
from configs import main as main_config  # noqa: E402
from lam_jax.data.episodes import DatasetEpisodes  # noqa: E402
from experiments import ladder_report, main_report, parallel  # noqa: E402
from lam_jax.training import run_dir  # noqa: E402
from experiments import datasets  # noqa: E402
from lam_jax.stages import downstream, pipeline  # noqa: E402

_SEEDS = flags.DEFINE_list("seeds", "0,1,2", "seeds")
_LABELED = flags.DEFINE_integer("labeled", 4, "labeled trajectories k")
_VARIANT = flags.DEFINE_string("variant", "small", "config variant of every stage (smoke: a quick check)")
_COLLECT = config_flags.DEFINE_config_file("collect", "configs/collect.py:small", "collection config")
_OUT = flags.DEFINE_string("out", "runs/main", "output folder")
parallel.lam_overrides_flag()
parallel.downstream_overrides_flag()
_WORKERS = flags.DEFINE_integer("workers", 2, "pipelines side by side, one per core (numbers reproduce per setting)")
_FROM_RESULTS = flags.DEFINE_bool("from_results", False, "write the report again from OUT/summaries.json (no run is "
                                  "read or trained; its dataset must be here; give the job's other flags again)")


def main(argv):
    del argv
    if _VARIANT.value == "smoke":  # a quick end-to-end check of the job itself
        _COLLECT.value.update(collect_configs.SMOKE_SIZES)  # collect.py:smoke's data
    saved = run_dir.read_json(os.path.join(_OUT.value, "summaries.json")) if _FROM_RESULTS.value else None
    dataset = saved["runs"][0]["dataset"] if saved else datasets.dataset_path("", _COLLECT.value)
    config = main_config.get_config(_VARIANT.value)
    lam_set = (*config.lam_budget, *parallel.overrides_of("lam"))
    down_set = (*config.downstream_budget, *parallel.overrides_of("downstream"))
    rungs = {r.name: r for r in ladder_report.rungs(_VARIANT.value)}
    pipes = [pipeline.PipelineRun(method, dataset, _LABELED.value, seed, _VARIANT.value, _OUT.value,
                                  (*rungs[rung].overrides, *lam_set), down_set)
             for method, rung in config.lineup for seed in (int(s) for s in _SEEDS.value)]
    dcfg = pipeline.downstream_config(pipeline.PipelineRun("laom", dataset, _LABELED.value, 0, _VARIANT.value,
                                                           downstream_overrides=down_set))
    train = DatasetEpisodes(dataset, "train")
    env_cfg = downstream.eval_env(train.dataset.metadata, dcfg)
    if saved:
        summaries, random_returns, command = saved["runs"], saved["random_policy_returns"], saved["command"]
    else:
        summaries, random_returns = _run(config, pipes, env_cfg, train.action_dim, dcfg)
        command = " ".join(["python -m experiments.main", *sys.argv[1:]])
    path, table = main_report.write(_OUT.value, summaries, random_returns, env_cfg, dataset, command,
                                    downstream.steps(dcfg.bc, train))
    print(table)
    print(f"report: {path}")


def _run(config, pipes, env_cfg, action_dim: int, dcfg) -> tuple[list, list]:
    """Every pipeline (reused where finished) and the random policy: (summaries, random returns)."""
    random_path = os.path.join(_OUT.value, "random_policy.json")
    # The random policy's episodes run beside the pipelines rather than alone after them.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        random_done = pool.submit(_random_policy, random_path, env_cfg, action_dim, dcfg)
        order = sorted(range(len(pipes)), key=lambda i: config.cost_order.index(pipes[i].method))
        done = parallel.execute([parallel.pipeline_job(pipes[i]) for i in order],
                                min(_WORKERS.value, len(os.sched_getaffinity(0))), os.path.join(_OUT.value, "logs"))
        return [done[order.index(i)] for i in range(len(pipes))], random_done.result()


def _random_policy(path: str, env_cfg, action_dim: int, dcfg) -> list[float]:
    """A uniformly random policy's returns in the evaluation setting, measured once and kept in ``path``:
    actions ~ U[-1, 1]^A from a fixed generator (the same numbers every run)."""
    if not os.path.exists(path):
        seeds, rng = [dcfg.eval.seed + i for i in range(dcfg.eval.episodes)], np.random.default_rng(0)
        returns = vec_env.run_episodes(lambda obs: rng.uniform(-1, 1, (len(obs), action_dim)), env_cfg, seeds, 1,
                                       dcfg.eval.workers, dcfg.eval.max_steps or None, progress=False)
        run_dir.write_json(path, {"returns": returns, "seeds": seeds})
    return run_dir.read_json(path)["returns"]


if __name__ == "__main__":
    app.run(main)
