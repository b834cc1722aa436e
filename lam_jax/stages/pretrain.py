"""LAM pretraining stage: episode sources -> Trainer -> checkpoints, metrics and report.json.

The report holds the paper's metric (the online probe latent -> action on the training batch at
the last step, as the reference's wandb summary), and, with an eval split, our held-out measures:
ridge probes scored on unseen episodes and, for models with an action head, the eval action MSE.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np

from data_pipeline.released import is_hdf5_path
from lam_jax import errors
from lam_jax.data.episodes import DatasetEpisodes, open_dataset, synthetic_episodes
from lam_jax.devices import sharding
from lam_jax.evaluation.held_out import held_out_report
from lam_jax.models import lams
from lam_jax.stages.probe import log_held_out
from lam_jax.training import run_dir
from lam_jax.training.metrics import read_jsonl
from lam_jax.training.train_lam import Trainer, validate_config


def validate_data_config(d) -> None:
    if not d.path:
        for name in ("synthetic_episodes", "synthetic_length", "image_size"):
            if d[name] < 1:
                raise errors.ConfigError(f"config.data.{name} must be >= 1, got {d[name]}")
    elif os.path.isfile(d.path) and not is_hdf5_path(d.path):
        raise errors.ConfigError(f"config.data.path {d.path!r} is a file but not a released .hdf5/.h5 file; give a "
                         "dataset folder (.../{name}/1.1.0) or a released training file")
    elif not (os.path.isdir(d.path) or os.path.isfile(d.path)):
        raise errors.MissingPathError(f"config.data.path {d.path!r} does not exist; build a dataset with "
                                "experiments/collect_dataset.py or experiments/import_hdf5.py, give a released "
                                ".hdf5 file, or leave it empty for synthetic episodes")


def check_image_size(cfg) -> None:
    """For a ``data.image_size`` the user set: frames are never resized, so a size other than the
    data's cannot take effect (by default the model takes the data's size and says so)."""
    d = cfg.data
    dataset = open_dataset(d.path, d.get("eval_path") or None,
                           [p for p in d.get("labeled_paths", "").split(",") if p] or None)
    held = dataset.shapes()["image_size"]
    getattr(dataset, "close", lambda: None)()
    if cfg.data.image_size != held:
        raise errors.ConfigError(f"config.data.image_size={cfg.data.image_size}, but {cfg.data.path} holds {held} px "
                                 f"frames and frames are not resized: use data of {cfg.data.image_size} px (collect "
                                 "or import it at that size) or leave data.image_size out")


@dataclasses.dataclass
class Sources:
    """What a pretraining run reads: ``train`` (what it trains on), ``labeled`` (LAOM+supervision's
    labeled batch), ``evals`` (held-out split) and ``probe_fit`` (the split its probes are fit on)."""
    train: object
    labeled: object | None
    evals: object | None
    probe_fit: object


def episode_sources(cfg, train: DatasetEpisodes | None = None) -> Sources:
    """Episode sources from cfg.data: a TFDS dataset or synthetic episodes; ``train``: cfg.data.path's
    training split already open (a pipeline's), whose handle the other splits share.

    The IDM baseline trains on the labeled trajectories alone; its probes are still fit on the
    whole training split.
    """
    d = cfg.data
    validate_data_config(d)
    if not d.path:
        full = synthetic_episodes(d.synthetic_episodes, d.synthetic_length, d.image_size, seed=0)
        evals = synthetic_episodes(max(2, d.synthetic_episodes // 4), d.synthetic_length, d.image_size, seed=1)
        labeled_idx = range(min(d.labeled_trajectories, full.num_episodes))
    else:
        given = train is not None and train.path == d.path and train.split == "train"
        dataset = train.dataset if given else open_dataset(
            d.path, d.get("eval_path") or None, [p for p in d.get("labeled_paths", "").split(",") if p] or None)
        full = DatasetEpisodes(d.path, "train", action_key=d.action_key, dataset=dataset)
        if given and train.action_key == full.action_key:
            full = train  # its frames, once placed on the devices, serve the later stages too
        evals = (DatasetEpisodes(d.path, cfg.eval_split, action_key=d.action_key, dataset=dataset)
                 if cfg.eval_split in dataset.splits else None)
        labeled_idx = full.dataset.labeled_indices(d.labeled_trajectories) if lams.needs_labels(cfg.model) else []
    labeled = full.subset(labeled_idx) if lams.needs_labels(cfg.model) else None
    if lams.trains_on_labels_only(cfg.model):
        return Sources(labeled, None, evals, full)
    return Sources(full, labeled, evals, full)


def paper_metric(workdir: str) -> dict:
    """The online probe latent -> action at the last logged step (the reference's summary value),
    and its mean over the last 10% of logged steps (less noisy)."""
    rows = [r for r in read_jsonl(os.path.join(workdir, "metrics.jsonl")) if "probe/latent_action_mse" in r]
    if not rows:
        return {}
    values = [r["probe/latent_action_mse"] for r in rows]
    tail = values[-max(1, len(values) // 10):]
    return {"online_latent_action_probe_mse": values[-1], "online_latent_action_probe_mse_tail_mean":
            float(np.mean(tail)), "step": rows[-1]["step"]}


def finished(cfg) -> dict | None:
    """The report of cfg.workdir's finished run, or None; a run finished under other settings raises
    ConfigMismatchError (sweeps reuse finished runs, never stale ones)."""
    return run_dir.finished_report(cfg.workdir, cfg.to_dict())


@dataclasses.dataclass
class Pretrained:
    """A pretraining run's report, and the model it trained (what the next stage takes in memory)."""
    report: dict
    model: object
    model_spec: dict


def run(cfg, progress: bool = True) -> dict:
    return train(cfg, progress).report


def train(cfg, progress: bool = True, train_split: DatasetEpisodes | None = None) -> Pretrained:
    if not cfg.workdir:
        raise errors.ConfigError("config.workdir must name the run's output folder")
    validate_config(cfg)
    sharding.initialize_distributed(cfg.distributed)
    src = episode_sources(cfg, train_split)
    trainer = Trainer(cfg, src.train, src.labeled, workdir=cfg.workdir)
    final = trainer.run(progress=progress)
    model = trainer.model
    report = {"model": cfg.model.name, "variant": cfg.get("variant", ""),
              "labeled_loss_coef": cfg.model.labeled_loss_coef, "num_steps": trainer.num_steps,
              "batch_size": cfg.batch_size, "params": lams.counted_params(model), "final_metrics": final,
              "paper_metric": paper_metric(cfg.workdir) if sharding.is_main_process() else {}}
    if src.evals is not None:
        report["held_out"] = held_out_report(model, src.probe_fit, src.evals, cfg.frame_stack,
                                             lams.predicts_actions(cfg.model), progress=progress)
    if sharding.is_main_process():
        run_dir.write_json(os.path.join(cfg.workdir, "report.json"), report)
        if "held_out" in report:
            log_held_out(cfg, cfg.workdir, report["held_out"], trainer.num_steps)
    return Pretrained(report, model, trainer.model_spec)
