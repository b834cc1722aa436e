"""Datasets for experiments: an existing one by path, or built (or reused) from a collect config."""
from __future__ import annotations

from data_pipeline.make_dataset import build_dataset


def dataset_path(dataset: str, collect_cfg) -> str:
    """``dataset`` if given, else the dataset ``collect_cfg`` describes (collected once, then reused)."""
    return dataset or build_dataset(collect_cfg)
