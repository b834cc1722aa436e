"""LAM pretraining stage: data -> Trainer -> checkpoints, metrics, and a held-out linear-probe report."""
from __future__ import annotations

import json
import os

from lam_jax import data as data_lib
from lam_jax import models
from lam_jax import probe as probe_lib
from lam_jax.stages import probe as probe_stage
from lam_jax.train_lam import Trainer


def load_data(cfg):
    """(train, labeled or None, eval) episodes from cfg.data: a TFDS dataset dir or synthetic."""
    d = cfg.data
    need_labels = models.needs_labels(cfg.model)
    if not d.path:
        train = data_lib.synthetic_episodes(d.synthetic_episodes, d.synthetic_length, d.get("image_size", 64), seed=0)
        evals = data_lib.synthetic_episodes(max(2, d.synthetic_episodes // 4), d.synthetic_length,
                                            d.get("image_size", 64), seed=1)
        labeled = train.subset(range(min(d.labeled_trajectories, train.num_episodes))) if need_labels else None
        return train, labeled, evals
    from data_pipeline.rlds_dataset import TrajectoryDataset
    ds = TrajectoryDataset(d.path)
    train = data_lib.load_episodes(d.path, "train")
    labeled = train.subset(ds.labeled_indices(d.labeled_trajectories)) if need_labels else None
    evals = data_lib.load_episodes(d.path, "eval") if "eval" in ds.splits else None
    return train, labeled, evals


def held_out_probes(trainer: Trainer, train, evals, l2: float = 1e-3) -> dict:
    """Ridge probes fit on training episodes and scored on held-out ones:
    latent(o_t, o_{t+1}) -> a_t and embedding(o_t) -> standardised s_t."""
    args = (trainer.model, trainer.cfg.frame_stack, trainer.state_stats, trainer.mesh)
    fit, test = probe_stage.probe_features(train, *args), probe_stage.probe_features(evals, *args)
    return {"latent_action_probe": probe_lib.score(test["latent"], probe_lib.solve_ridge(fit["latent"], l2)),
            "embedding_state_probe": probe_lib.score(test["embedding"], probe_lib.solve_ridge(fit["embedding"], l2))}


def run(cfg, progress: bool = True) -> dict:
    if not cfg.workdir:
        raise ValueError("config.workdir must name the run's output folder")
    os.makedirs(cfg.workdir, exist_ok=True)
    with open(os.path.join(cfg.workdir, "config.json"), "w") as f:
        f.write(cfg.to_json(indent=1))
    train, labeled, evals = load_data(cfg)
    trainer = Trainer(cfg, train, labeled, workdir=cfg.workdir)
    final = trainer.run(progress=progress)
    report = {"method": cfg.model.name, "labeled_loss_coef": cfg.model.labeled_loss_coef,
              "num_steps": cfg.num_steps, "batch_size": cfg.batch_size, "final_metrics": final}
    if evals is not None:
        report["eval_metrics"] = trainer.evaluate(evals)
        report.update(held_out_probes(trainer, train, evals))
    with open(os.path.join(cfg.workdir, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    return report
