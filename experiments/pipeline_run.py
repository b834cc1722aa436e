"""The whole pipeline for one method, dataset, label budget and seed; every stage resumable.

methods: lapo, laom, laom_labels (LAM -> BC on latents -> decoder on the actor's outputs for the
labeled data -> evaluation), idm (supervised IDM -> BC on its predicted actions -> evaluation), bc
(BC from scratch on the labeled data -> evaluation). Writes ``{pipe.folder}/summary.json``; a run
whose summary exists is returned as it is.
"""
from __future__ import annotations

import dataclasses
import functools
import os

from configs import common, downstream as downstream_configs, methods
from lam_jax.data.episodes import DatasetEpisodes
from lam_jax.stages import downstream, pretrain
from lam_jax.training import restore, run_dir


@dataclasses.dataclass
class PipelineRun:
    method: str
    dataset: str
    labeled: int
    seed: int = 0
    variant: str = "small"
    out: str = "runs/pipeline"
    lam_overrides: tuple = ()
    downstream_overrides: tuple = ()
    eval_split: str = ""  # '' -> the downstream config's (the reference's: 'train' videos)

    @functools.cached_property
    def train(self) -> DatasetEpisodes:
        """The training split: the dataset is opened once for every stage of the pipeline."""
        return DatasetEpisodes(self.dataset, "train")

    @functools.cached_property
    def folder(self) -> str:
        """OUT/task/method/k{labeled}_s{seed} (the task is in the dataset's metadata)."""
        task = self.train.dataset.metadata["settings"]["env"]["task"]
        return os.path.join(self.out, task, self.method, f"k{self.labeled}_s{self.seed}")


def _lam_config(pipe: PipelineRun):
    if pipe.method == "bc":
        return None
    return methods.lam_config(pipe.method, pipe.variant, pipe.dataset, os.path.join(pipe.folder, "lam"),
                              [f"seed={pipe.seed}", f"data.labeled_trajectories={pipe.labeled}", *pipe.lam_overrides])


def finished(pipe: PipelineRun) -> dict | None:
    """The pipeline's summary when it has finished, else None; it stands in only for the same LAM
    settings (a LAM trained under others raises ConfigMismatchError)."""
    path = os.path.join(pipe.folder, "summary.json")
    if not os.path.exists(path):
        return None
    lam_cfg = _lam_config(pipe)
    if lam_cfg is not None:
        pretrain.finished(lam_cfg)
    return run_dir.read_json(path)


def downstream_config(pipe: PipelineRun):
    split = [f"eval.split={pipe.eval_split}"] if pipe.eval_split else []
    return common.override(downstream_configs.get_config(pipe.variant),
                           [*pipe.downstream_overrides, f"seed={pipe.seed}", *split])


def run(pipe: PipelineRun, progress: bool = True) -> dict:
    methods.check(pipe.method)
    out = pipe.folder
    lam_dir, cfg = os.path.join(out, "lam"), _lam_config(pipe)
    done = finished(pipe)
    if done is not None:
        return done
    dcfg = downstream_config(pipe)
    train = pipe.train
    labeled = train.subset(train.dataset.labeled_indices(pipe.labeled))
    summary = {"method": pipe.method, "labeled": pipe.labeled, "seed": pipe.seed, "variant": pipe.variant,
               "dataset": pipe.dataset, "task": train.dataset.metadata["settings"]["env"]["task"],
               "preset": train.dataset.metadata["settings"]["env"]["preset"]}
    actor_dir, decoder_dir, decoder = os.path.join(out, "actor"), None, None
    if pipe.method == "bc":
        actor = downstream.train_bc_scratch(dcfg, labeled, actor_dir)
    else:  # each stage takes the previous one's model in memory (from disk only when that one was reused)
        report, lam = pretrain.finished(cfg), None
        if report is None:
            trained = pretrain.train(cfg, progress, train)
            report, lam = trained.report, (restore.recast(cfg, trained.model_spec, trained.model, "float32"),
                                           trained.model_spec)
        summary["lam"] = {k: report.get(k) for k in ("paper_metric", "held_out", "params", "num_steps")}
        actor = downstream.train_bc(dcfg, lam_dir, train, actor_dir, lam)
        if methods.uses_decoder(pipe.method):
            decoder_dir = os.path.join(out, "decoder")
            decoder = downstream.train_decoder(dcfg, actor_dir, labeled, decoder_dir, actor)
    policy, frame_stack = downstream.load_policy(actor_dir, decoder_dir, actor, decoder)
    env_cfg = downstream.eval_env(train.dataset.metadata, dcfg)
    summary["eval"] = downstream.evaluate(policy, frame_stack, env_cfg, dcfg, os.path.join(out, "eval.json"),
                                          progress=progress)
    run_dir.write_json(os.path.join(out, "summary.json"), summary)
    return summary
