"""Trajectories as a TFDS dataset: RLDS episode schema, ``array_record`` shards, read without TensorFlow.

Layout: ``{data_dir}/dcs_trajectories/{name}/1.1.0/``; splits ``train`` and ``eval`` (eval uses
background videos unseen in train). Episode order is preserved, so example i of a split is
episode i. Labeled subsets (k whole training trajectories) are stored in the dataset metadata.
Written shard by shard in bounded memory (``shard_writer``), from collection staging files or
from the paper's released HDF5 files (``import_hdf5``).
"""
from __future__ import annotations

import functools
import glob
import json
import os

import numpy as np
import tensorflow_datasets as tfds

from data_pipeline import shard_writer
from lam_jax.training import run_dir

DATASET_NAME = "dcs_trajectories"
# What each step of a collected episode holds (collection staging files and RLDS steps alike).
STEP_KEYS = ("image", "state", "action", "raw_action", "reward", "is_first", "is_last", "is_terminal")
LABEL_BUDGETS = (2, 4, 8, 16, 32, 64, 128)


class CorruptDatasetError(RuntimeError):
    """A dataset shard cannot be read."""


def rlds_features(image_size: int, state_dim: int, action_dim: int) -> tfds.features.FeaturesDict:
    f32 = np.float32
    return tfds.features.FeaturesDict({
        "steps": tfds.features.Dataset({
            "observation": tfds.features.FeaturesDict({
                # zlib: rendered frames compress well and decode fast without TensorFlow.
                "image": tfds.features.Tensor(shape=(image_size, image_size, 3), dtype=np.uint8,
                                              encoding=tfds.features.Encoding.ZLIB),
                "state": tfds.features.Tensor(shape=(state_dim,), dtype=f32),
            }),
            "action": tfds.features.Tensor(shape=(action_dim,), dtype=f32),
            "raw_action": tfds.features.Tensor(shape=(action_dim,), dtype=f32),
            "reward": tfds.features.Scalar(dtype=f32),
            "discount": tfds.features.Scalar(dtype=f32),  # RLDS: 1 everywhere (DMC tasks time out, never end)
            "is_first": np.bool_,
            "is_last": np.bool_,
            "is_terminal": np.bool_,
        }),
        "episode_metadata": tfds.features.FeaturesDict({
            "index": np.int64, "seed": np.int64, "return": f32,
            "domain": tfds.features.Text(), "task": tfds.features.Text(),
            "difficulty": tfds.features.Text(), "background_video": tfds.features.Text(),
        }),
    })


VERSION = "1.1.0"  # 1.1.0: RLDS 'discount' per step


def dataset_info(name: str, image_size: int, state_dim: int, action_dim: int, metadata: dict,
                 data_dir: str = "") -> tfds.core.DatasetInfo:
    """The TFDS description of a trajectories dataset (what ``tfds.builder_from_directory`` reads)."""
    identity = tfds.core.DatasetIdentity(
        name=DATASET_NAME, version=tfds.core.Version(VERSION), data_dir=data_dir, module_name=__name__,
        config_name=name, config_description=json.dumps(metadata.get("settings", {})),
        release_notes={"1.0.0": "First release.", "1.1.0": "RLDS 'discount' per step."})
    return tfds.core.DatasetInfo(
        builder=identity, description="Expert trajectories in the Distracting Control Suite.",
        features=rlds_features(image_size, state_dim, action_dim),
        metadata=tfds.core.MetadataDict(metadata), disable_shuffling=True)


def example_bytes(length: int, image_size: int, state_dim: int, action_dim: int) -> int:
    """Raw bytes of one episode (before zlib), to size the shards."""
    return length * (image_size * image_size * 3 + 4 * (state_dim + 2 * action_dim + 2) + 3)


def episode_example(ep: dict, metadata: dict) -> dict:
    """One episode (step arrays as in collection staging, plus ``meta_*``) as an RLDS example."""
    n = len(ep["image"])
    steps = {k: ep[k] for k in STEP_KEYS if k not in ("image", "state")}
    steps["discount"] = np.ones(n, np.float32)
    steps["observation"] = {"image": ep["image"], "state": ep["state"]}
    return {"steps": steps, "episode_metadata": {
        "index": int(ep["meta_index"]), "seed": int(ep["meta_seed"]), "return": float(ep["meta_return"]),
        "domain": metadata.get("domain", ""), "task": metadata.get("task", ""),
        "difficulty": metadata.get("preset", ""), "background_video": str(ep["meta_video"])}}


def write_dataset(path: str, split_sizes: dict[str, int], shapes: dict, metadata: dict, source,
                  workers: int = 1, claim: dict | None = None, num_shards: int = 0) -> str:
    """Writes the TFDS dataset at ``path`` (``.../{name}/{VERSION}``) from ``source`` in bounded memory.

    The shards go to ``path + '.incomplete'`` first; a re-run resumes there if ``claim`` (what makes
    two writes the same) matches, and refuses otherwise. ``shapes``: length, image_size, state_dim,
    action_dim. ``num_shards`` > 0: at most that many shards per split; 0 sizes shards to about 256 MiB raw.
    """
    folder = path + ".incomplete"
    if os.path.exists(path):
        raise FileExistsError(f"{path} exists but is not a complete dataset (no dataset_info.json); delete it")
    plans = [shard_writer.plan_split(split, n, example_bytes(**shapes), num_shards=num_shards)
             for split, n in split_sizes.items() if n]
    name = os.path.basename(os.path.dirname(path))
    dims = {k: shapes[k] for k in ("image_size", "state_dim", "action_dim")}
    with run_dir.exclusive(folder):
        run_dir.claim_settings(folder, CLAIM_FILE, claim if claim is not None else metadata.get("settings", {}),
                                    "an unfinished write")
        split_bytes = shard_writer.write_splits(folder, DATASET_NAME, functools.partial(rlds_features, **dims),
                                                plans, source, workers, desc=f"write {name}")
        info = dataset_info(name, metadata=metadata, data_dir=path, **dims)
        return shard_writer.finish(folder, path, info, plans, split_bytes, remove=(CLAIM_FILE,))


CLAIM_FILE = "writing.json"


def built(path: str, key: str, expected: dict, hint: str) -> bool:
    """True if a complete dataset at ``path`` was made with ``expected`` (its metadata[key]); one
    made otherwise raises, naming both (re-runs reuse a dataset, never a different one)."""
    if not os.path.isfile(os.path.join(path, "dataset_info.json")):
        return False
    found = TrajectoryDataset(path).metadata.get(key)
    if found != json.loads(json.dumps(expected)):
        raise ValueError(f"dataset {path} exists, made otherwise:\n  found {found}\n  wanted {expected}\n{hint}")
    print(f"dataset already built: {path}")
    return True


def labeled_subsets(num_train: int, seed: int, budgets=LABEL_BUDGETS) -> dict[str, list[int]]:
    """Nested random subsets of k whole training trajectories (k <= num_train)."""
    order = np.random.default_rng(seed).permutation(num_train)
    return {str(k): sorted(int(i) for i in order[:k]) for k in budgets if k <= num_train}


def dataset_dir(data_dir: str, name: str) -> str:
    return os.path.join(data_dir, DATASET_NAME, name, VERSION)


# ----------------------------------------------------------------------------- reading


class TrajectoryDataset:
    """Random access to the episodes of a built dataset, as NumPy arrays, without TensorFlow."""

    def __init__(self, path: str):
        if not os.path.isfile(os.path.join(path, "dataset_info.json")):
            raise FileNotFoundError(f"no TFDS dataset at {path!r} (missing dataset_info.json); "
                                    "run experiments/collect_dataset.py first")
        self.path = path
        self.builder = tfds.builder_from_directory(path)
        self.metadata = dict(self.builder.info.metadata or {})
        self._sources = {}

    @property
    def splits(self) -> list[str]:
        return sorted(self.builder.info.splits.keys())

    def num_episodes(self, split: str) -> int:
        return self.builder.info.splits[split].num_examples

    def _source(self, split: str):
        if split not in self.builder.info.splits:
            raise KeyError(f"dataset {self.path!r} has no split {split!r}; it has {self.splits}")
        if split not in self._sources:
            self._sources[split] = self.builder.as_data_source(split)
        return self._sources[split]

    def episode(self, split: str, index: int) -> dict:
        """Episode as a dict of stacked step arrays plus its metadata under 'metadata'."""
        try:
            example = self._source(split)[index]
            steps = [example["steps"][t] for t in range(len(example["steps"]))]
        except RuntimeError as e:
            shards = sorted(glob.glob(os.path.join(self.path, f"*-{split}.array_record-*")))
            raise CorruptDatasetError(
                f"cannot read episode {index} of split {split!r} in {self.path}: a shard is corrupt "
                f"({e}). Shards: {[os.path.basename(s) for s in shards]}. Delete the dataset folder and "
                "re-run the collection (staged episodes, if kept, are reused).") from e
        out = {"image": np.stack([s["observation"]["image"] for s in steps]),
               "state": np.stack([s["observation"]["state"] for s in steps])}
        for k in (*STEP_KEYS, "discount"):
            if k not in out and k in steps[0]:
                out[k] = np.stack([s[k] for s in steps])
        meta = example["episode_metadata"]
        out["metadata"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in meta.items()}
        return out

    def shapes(self) -> dict:
        """Episode length and per-step shapes, from the dataset's features and settings."""
        steps = self.builder.info.features["steps"]
        image = steps["observation"]["image"].shape
        # Collected episodes hold num_steps + 1 frames; imported ones say how many they hold.
        length = self.metadata.get("episode_length") or int(self.metadata["settings"]["num_steps"]) + 1
        return {"length": int(length), "image_size": int(image[0]),
                "state_dim": int(steps["observation"]["state"].shape[0]), "action_dim": int(steps["action"].shape[0])}

    def resolve_action_key(self, key: str) -> str:
        """'reference' -> the action the reference's datasets store for this task's expert."""
        if key == "reference" and "reference_action_key" in self.metadata:  # imported: the released actions
            return self.metadata["reference_action_key"]
        if key == "reference":
            from data_pipeline.experts import ExpertPolicy
            task = self.metadata["settings"]["env"]["task"]
            return ExpertPolicy(task).reference_action_key
        if key not in ("action", "raw_action"):
            raise ValueError(f"data.action_key must be 'reference', 'action' or 'raw_action', got {key!r}")
        return key

    def labeled_indices(self, k: int) -> list[int]:
        subsets = self.metadata.get("labeled_subsets", {})
        if str(k) not in subsets:
            raise KeyError(f"no labeled subset of {k} trajectories; available: {sorted(map(int, subsets))}")
        return list(subsets[str(k)])
