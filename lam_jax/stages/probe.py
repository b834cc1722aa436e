"""Offline linear probes of a frozen LAM: ridge latent -> action and embedding -> state, fit on
one split and scored per dimension on another (and the eval action MSE for models with an
action head). See ``lam_jax.evaluation.held_out``."""
from __future__ import annotations

import os

from lam_jax.data.episodes import DatasetEpisodes
from lam_jax.devices import sharding
from lam_jax.evaluation.held_out import held_out_report
from lam_jax.models import lams
from lam_jax.training import metrics, run_dir
from lam_jax.training.restore import check_frames, load_lam


def run(workdir: str, dataset: str = "", train_split: str = "train", eval_split: str = "eval",
        l2: float = 1e-3, out: str = "", progress: bool = True, step: int = 0) -> dict:
    """``step`` > 0: the checkpoint of that step (default report probe_report_step{step}.json),
    not the latest."""
    cfg, model, model_spec = load_lam(workdir, step or None)
    dataset = dataset or cfg.data.path
    if not dataset:
        raise ValueError("the run was trained on synthetic data; pass a dataset path to probe on")
    key = cfg.data.get("action_key", "reference")
    train = DatasetEpisodes(dataset, train_split, action_key=key)
    evals = DatasetEpisodes(dataset, eval_split, action_key=key, dataset=train.dataset)
    check_frames(model_spec, train, f"the LAM in {workdir}")
    held_out = held_out_report(model, train, evals, model_spec["frame_stack"], lams.predicts_actions(cfg.model),
                               l2, progress)
    report = {"workdir": workdir, "dataset": dataset, "train_split": train_split, "eval_split": eval_split, "l2": l2,
              **({"step": step} if step else {}), **held_out}
    if sharding.is_main_process():
        run_dir.write_json(out or os.path.join(workdir, report_name(step)), report)
        log_held_out(cfg, workdir, held_out, step or int(cfg.get("num_steps", 0) or 0))
    return report


def report_name(step: int = 0) -> str:
    return f"probe_report_step{step}.json" if step else "probe_report.json"


def log_held_out(cfg, workdir: str, held_out: dict, step: int) -> None:
    """The held-out probes into WORKDIR/probe (JSONL, TensorBoard, wandb as the run's ``log`` says)."""
    metrics.log_result(os.path.join(workdir, "probe"), {"held_out": held_out}, metrics.log_settings(cfg), step=step)
