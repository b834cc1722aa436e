"""Collect expert trajectories and write them as a TFDS dataset (resumable end to end)."""
from __future__ import annotations

import dataclasses
import glob
import os
import shutil

from data_pipeline import backgrounds, collect, env_config, rlds_dataset
from data_pipeline.experts import ExpertPolicy
from lam_jax.training import run_dir


def dataset_name(cfg) -> str:
    """The config's name, else task, preset and size, marked when the videos are real DAVIS ones
    (so a DAVIS collection never collides with the procedural default)."""
    suffix = f"_{cfg.suffix}" if cfg.get("suffix") else ""
    davis = "_davis" if cfg.env.get("davis_path") else ""
    return cfg.get("name") or f"{cfg.env.task}_{cfg.env.preset}_{cfg.env.image_size}px{davis}{suffix}"


def _settings(cfg, env_cfg: env_config.EnvConfig) -> dict:
    # What makes two datasets the same; stored in the metadata and checked on reuse.
    return {"env": dataclasses.asdict(env_cfg), "num_train": cfg.num_train, "num_eval": cfg.num_eval,
            "num_steps": cfg.num_steps, "seed": cfg.seed}


def validate(cfg, env_cfg: env_config.EnvConfig) -> None:
    """Every setting checked, and the background videos found (or generated), before anything is written."""
    env_cfg.validate()
    counts = {"num_train": (cfg.num_train, 1), "num_eval": (cfg.num_eval, 0), "num_steps": (cfg.num_steps, 1),
              "seed": (cfg.seed, 0), "num_workers": (cfg.num_workers, 1), "num_shards": (cfg.get("num_shards", 0), 0)}
    for name, (value, low) in counts.items():
        if value < low:
            raise ValueError(f"config.{name} must be >= {low}, got {value}")
    if env_config.PRESETS[env_cfg.preset].num_videos != 0:
        folder = env_config.background_folder(env_cfg)
        for split, n in (("train", cfg.num_train), ("eval", cfg.num_eval)):
            if n:
                backgrounds.check_videos(folder, split, env_config.PRESETS[env_cfg.preset].num_videos)


def _remove_stale_builds(data_dir: str, name: str) -> None:
    """Older versions built through TFDS into incomplete.* folders; a killed build left one."""
    parent = os.path.join(data_dir, rlds_dataset.DATASET_NAME, name)
    for stale in glob.glob(os.path.join(parent, "incomplete.*")):
        shutil.rmtree(stale, ignore_errors=True)


@dataclasses.dataclass(frozen=True)
class StagedSource:
    """Episodes of the collection's staging folder as RLDS examples (picklable, for writer processes)."""
    staging: str
    metadata: dict

    def example(self, split: str, index: int) -> dict:
        staged = collect.staging_path(self.staging, split, index)
        if not os.path.isfile(staged):
            raise FileNotFoundError(f"episode {index} of split {split!r} is not staged in {self.staging}")
        return rlds_dataset.episode_example({**collect.load_staged(staged), "meta_index": index}, self.metadata)


def build_dataset(cfg) -> str:
    """Returns the path of the built dataset, collecting and building only what is missing."""
    env_cfg = env_config.EnvConfig(**cfg.env)
    validate(cfg, env_cfg)
    name = dataset_name(cfg)
    path = rlds_dataset.dataset_dir(cfg.data_dir, name)
    settings = _settings(cfg, env_cfg)
    if rlds_dataset.built(path, "settings", settings,
                          "give this dataset another name (config.name) or delete the old one"):
        return path

    staging = os.path.join(cfg.data_dir, "staging", name)
    # Staged episodes resume only under the settings that produced them; without any, the folder is free.
    run_dir.claim_settings(
        staging, "settings.json", settings, "episodes collected",
        in_use=any(collect.staged_episodes(staging, split) for split in collect.SPLIT_IDS))
    for split, n in (("train", cfg.num_train), ("eval", cfg.num_eval)):
        if n:
            collect.collect_split(env_cfg, split, n, cfg.num_steps, staging, cfg.seed, cfg.num_workers)

    domain, task = env_config.TASKS[env_cfg.task]
    policy = ExpertPolicy(env_cfg.task)
    metadata = {"settings": settings, "domain": domain, "task": task, "preset": env_cfg.preset,
                "state_keys": policy.obs_keys, "episode_length": cfg.num_steps + 1,
                "labeled_subsets": rlds_dataset.labeled_subsets(cfg.num_train, cfg.seed)}
    _remove_stale_builds(cfg.data_dir, name)
    shapes = {"length": cfg.num_steps + 1, "image_size": env_cfg.image_size, "state_dim": policy.state_dim,
              "action_dim": policy.action_dim}
    rlds_dataset.write_dataset(path, {"train": cfg.num_train, "eval": cfg.num_eval}, shapes, metadata,
                               StagedSource(staging, metadata), workers=cfg.num_workers, claim=settings,
                               num_shards=cfg.get("num_shards", 0))
    if not cfg.get("keep_staging", False):
        shutil.rmtree(staging, ignore_errors=True)
    return path
