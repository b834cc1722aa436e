"""The runs of the paper's Fig. 6 ladder: its rungs (``configs/ladder.py``), each rung's pretraining
job per seed, what the report keeps of a run, and the budget runs' points (probes at kept checkpoints).
The report is ``ladder_report.py``.
"""
from __future__ import annotations

import dataclasses
import math
import os

from configs import ladder as ladder_config
from experiments import parallel
from lam_jax.stages import probe
from lam_jax.training import run_dir
from lam_jax.training.metrics import read_jsonl


@dataclasses.dataclass(frozen=True)
class Rung:
    name: str
    label: str
    method: str
    overrides: tuple


def rungs(variant: str) -> list[Rung]:
    """The ladder of ``configs/ladder.py`` at ``variant``."""
    return [Rung(*r) for r in ladder_config.get_config(variant).rungs]


def rung_job(rung: Rung, seed: int, dataset: str, variant: str, out: str, extra=()) -> parallel.Job:
    """The pretraining run of one rung and seed."""
    return parallel.pretrain_job(rung.method, variant, [*rung.overrides, f"seed={seed}", *extra],
                                 os.path.join(out, rung.name, f"seed{seed}"), dataset)


def rung_result(pretrained: dict, workdir: str) -> dict:
    """What the ladder keeps of a rung's report.json."""
    probe = pretrained["held_out"]["latent_action_probe"]
    return {"online_probe_mse": pretrained["paper_metric"]["online_latent_action_probe_mse"],
            "online_probe_mse_tail_mean": pretrained["paper_metric"]["online_latent_action_probe_mse_tail_mean"],
            "ridge_probe_mse": probe["mse"], "ridge_chance_mse": probe["chance_mse"],
            "eval_action_mse": pretrained["held_out"].get("eval_action_mse"), "params": pretrained["params"],
            "num_steps": pretrained["num_steps"], "workdir": workdir}


def budget_overrides(steps) -> tuple:
    """One run to the largest budget, keeping the checkpoints of the smaller ones."""
    every = math.gcd(*steps)
    return (f"num_steps={max(steps)}", f"save_every={every}", f"keep_every={every}",
            f"log_every={math.gcd(every, 100)}")


def budget_point(workdir: str, step: int) -> dict:
    """Both probes of a run at one of its kept checkpoints: the online probe logged at that step and
    the held-out ridge probe of the model restored there (cached in the run folder)."""
    path = os.path.join(workdir, f"budget_step{step}.json")
    if os.path.exists(path):
        return run_dir.read_json(path)
    rows = [r for r in read_jsonl(os.path.join(workdir, "metrics.jsonl"))
            if r["step"] <= step and "probe/latent_action_mse" in r]
    held_out = probe.run(workdir, step=step, progress=False)  # the probe stage at that checkpoint
    point = {"step": step, "online_probe_mse": rows[-1]["probe/latent_action_mse"],
             "ridge_probe_mse": held_out["latent_action_probe"]["mse"]}
    run_dir.write_json(path, point)
    return point
