"""The README's main job: the ladder's end points and downstream control, over seeds, on CPU.

  python -m experiments.main [--seeds=0,1,2] [--labeled=4] [--out=runs/main] [--collect.env.davis_path=DAVIS]
                             [--lam_set=num_steps=1500 ...] [--downstream_set=bc.num_steps=3000 ...]

Collects a small cheetah-run dataset with the paper's distractors (procedural background videos
unless a DAVIS folder is given), then for LAPO (k=1, latent 128), LAOM and LAOM+supervision and
every seed runs the whole pipeline: LAM pretraining (paper metric and held-out probes), BC on
latent actions, the action decoder on the k labeled trajectories, and evaluation in the
environment. A random policy's return is measured in the same setting for scale. Writes
{out}/results.md with returns.png and probes.png, and prints the table. Everything is reused when
run again (datasets, checkpoints, finished runs), and a second run reproduces the numbers.
"""
import json
import os
import sys

from lam_jax import runtime  # noqa: F401

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from configs import collect as collect_configs  # noqa: E402
from data_pipeline import dcs  # noqa: E402
from lam_jax import data as data_lib  # noqa: E402
from lam_jax import ladder, main_report, methods, parallel  # noqa: E402
from lam_jax.stages import baselines, datasets, pipeline  # noqa: E402

_SEEDS = flags.DEFINE_list("seeds", "0,1,2", "seeds")
_LABELED = flags.DEFINE_integer("labeled", 4, "labeled trajectories k")
_VARIANT = flags.DEFINE_string("variant", "small", "config variant of every stage (smoke: a quick check)")
_COLLECT = config_flags.DEFINE_config_file("collect", "configs/collect.py:small", "collection config")
_OUT = flags.DEFINE_string("out", "runs/main", "output folder")
# The LAM budget at `small`: half the ladder's 3000 steps, with the same 30% warm-up (the whole job
# measured 53 min on 2 idle cores, README). --lam_set=num_steps=3000 --lam_set=warmup_steps=900 gives the ladder's.
MAIN_LAM_BUDGET = ("num_steps=1500", "warmup_steps=450")
_LAM_SET = flags.DEFINE_multi_string("lam_set", None, "LAM config override key=value, every method "
                                     f"(default at small: {' '.join(MAIN_LAM_BUDGET)})")
_DOWN_SET = flags.DEFINE_multi_string("downstream_set", [], "downstream config override key=value")
_WORKERS = flags.DEFINE_integer("workers", 2, "pipelines side by side, one per core (numbers reproduce per setting)")


def main(argv):
    del argv
    if _VARIANT.value == "smoke":  # a quick end-to-end check of the job itself
        _COLLECT.value.update(collect_configs.SMOKE_SIZES)  # collect.py:smoke's data
    dataset = datasets.dataset_path("", _COLLECT.value)
    lam_set = tuple(_LAM_SET.value) if _LAM_SET.value is not None else (
        MAIN_LAM_BUDGET if _VARIANT.value == "small" else ())
    large = methods.lam_config("laom", _VARIANT.value).model.latent_dim
    ends = {r.name: r for r in ladder.rungs(large)}
    lineup = [("lapo", ends["lapo"]), ("laom", ends["augment"]), ("laom_labels", ends["supervision"])]
    specs = [pipeline.PipelineSpec(method, dataset, _LABELED.value, seed, _VARIANT.value, _OUT.value,
                                   (*rung.overrides, *lam_set), tuple(_DOWN_SET.value))
             for method, rung in lineup for seed in (int(s) for s in _SEEDS.value)]
    if _WORKERS.value > 1:
        commands = [c for spec in specs if (c := pipeline.command(spec))]
        parallel.run_commands(commands, min(_WORKERS.value, len(os.sched_getaffinity(0))),
                              os.path.join(_OUT.value, "logs"))
    summaries = [pipeline.run(spec) for spec in specs]
    dcfg = pipeline.downstream_config(pipeline.PipelineSpec("laom", dataset, _LABELED.value, 0, _VARIANT.value,
                                                            downstream_overrides=tuple(_DOWN_SET.value)))
    train = data_lib.DatasetEpisodes(dataset, "train")
    env_cfg = dcs.EnvConfig(**{**train.dataset.metadata["settings"]["env"], "split": dcfg.eval.split})
    random_path = os.path.join(_OUT.value, "random_policy.json")
    if not os.path.exists(random_path):
        seeds = [dcfg.eval.seed + i for i in range(dcfg.eval.episodes)]
        returns = baselines.random_policy_returns(env_cfg, train.action_dim, seeds, dcfg.eval.workers,
                                                  dcfg.eval.max_steps or None)
        with open(random_path, "w") as f:
            json.dump({"returns": returns, "seeds": seeds}, f)
    with open(random_path) as f:
        random_returns = json.load(f)["returns"]
    command = " ".join(["python -m experiments.main", *sys.argv[1:]])
    path, table = main_report.write(_OUT.value, summaries, random_returns, env_cfg, dataset, command)
    print(table)
    print(f"report: {path}")


if __name__ == "__main__":
    app.run(main)
