"""Shared flags of the downstream stage entry points (experiments/bc.py, decoder.py, ...)."""
from __future__ import annotations

import os

from absl import flags
from ml_collections import config_flags

from lam_jax.data.episodes import DatasetEpisodes
from lam_jax.training import run_dir

CONFIG = config_flags.DEFINE_config_file("config", "configs/downstream.py:small", "downstream config")
DATASET = flags.DEFINE_string("dataset", "", "dataset dir (default: the one the LAM or actor's LAM was trained on)")
OUT = flags.DEFINE_string("out", "", "this stage's output folder")


def dataset_of_lam(lam_dir: str) -> str:
    return _trained_on(lam_dir, "a pretraining run", lambda c: c["data"]["path"])


def dataset_of_actor(actor_dir: str) -> str:
    return _trained_on(actor_dir, "a trained actor", lambda c: c.get("dataset", ""))


def _trained_on(folder: str, what: str, get) -> str:
    """The dataset a stage's folder was trained on, from its config.json."""
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{folder!r} is not {what} (config.json missing)")
    return get(run_dir.read_json(path))


def require(value: str, flag: str) -> str:
    if not value:
        raise SystemExit(f"give --{flag}")
    return value


def train_split(dataset: str):
    return DatasetEpisodes(require(dataset, "dataset"), "train")
