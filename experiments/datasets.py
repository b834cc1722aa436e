"""Datasets for experiments: an existing one by path, or built (or reused) from a collect config."""
from __future__ import annotations

from data_pipeline.make_dataset import build_dataset
from lam_jax import errors


def dataset_path(dataset: str, collect_cfg) -> str:
    """``dataset`` if given, else the dataset ``collect_cfg`` describes (collected once, then reused)."""
    return dataset or build_dataset(collect_cfg)


def require_eval_split(dataset: str, experiment: str) -> str:
    """Experiments that report held-out probes stop early on data without an eval split (the
    released vanilla files have none)."""
    from lam_jax.data.episodes import open_dataset
    splits = open_dataset(dataset).splits
    if "eval" not in splits:
        raise errors.ConfigError(f"{experiment} reports held-out probes on the eval split, which {dataset} lacks "
                         f"(it has {splits})")
    return dataset
