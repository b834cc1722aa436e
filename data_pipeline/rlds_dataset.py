"""Trajectories as a TFDS dataset: RLDS episode schema, ``array_record`` shards, read without TensorFlow.

Layout: ``{data_dir}/dcs_trajectories/{name}/1.0.0/``; splits ``train`` and ``eval`` (eval uses
background videos unseen in train). Episode order is preserved, so example i of a split is
episode i (seeded deterministically). Labeled subsets are nested random samples of k whole
training trajectories, stored in the dataset metadata.
"""
from __future__ import annotations

import dataclasses
import glob
import os
import types

import numpy as np
import tensorflow_datasets as tfds
from tqdm.auto import tqdm

from data_pipeline import collect

DATASET_NAME = "dcs_trajectories"
LABEL_BUDGETS = (2, 4, 8, 16, 32, 64, 128)


class CorruptDatasetError(RuntimeError):
    """A dataset shard cannot be read."""


@dataclasses.dataclass
class DcsConfig(tfds.core.BuilderConfig):
    image_size: int = 64
    state_dim: int = 17
    action_dim: int = 6


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


def _plain_files_for_tfds_shuffler() -> None:
    """TFDS keeps a split in memory while writing it, up to 1 GB; beyond that its shuffler spills to
    temporary bucket files through ``tf.io.gfile``, which fails without TensorFlow (measured: a
    2 GB split). Without TensorFlow, hand it plain files (local paths only)."""
    import importlib.util
    if importlib.util.find_spec("tensorflow") is not None:
        return
    from tensorflow_datasets.core import shuffle
    gfile = types.SimpleNamespace(GFile=open, exists=os.path.exists, remove=os.remove)
    shuffle.tf = types.SimpleNamespace(io=types.SimpleNamespace(gfile=gfile))


_plain_files_for_tfds_shuffler()


class DcsTrajectories(tfds.core.GeneratorBasedBuilder):
    """Expert trajectories in the Distracting Control Suite, built from collection staging files."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "First release.", "1.1.0": "RLDS 'discount' per step."}

    def __init__(self, *, staging_dir: str | None = None, split_sizes: dict[str, int] | None = None,
                 metadata: dict | None = None, **kwargs):
        self._staging_dir = staging_dir
        self._split_sizes = split_sizes or {}
        self._extra_metadata = metadata or {}
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        c = self.builder_config
        return tfds.core.DatasetInfo(
            builder=self, description=self.__doc__,
            features=rlds_features(c.image_size, c.state_dim, c.action_dim),
            metadata=tfds.core.MetadataDict(self._extra_metadata),
            disable_shuffling=True)

    # TFDS prints these two banners (download sizes, "Unknown" here) itself; our caller reports.
    def _log_download_bytes(self) -> None:
        pass

    def _log_download_done(self) -> None:
        pass

    def _split_generators(self, dl_manager):
        if not self._staging_dir:
            raise ValueError("building the dataset needs staging_dir (run the collection first)")
        splits = [s for s in collect.SPLIT_IDS if self._split_sizes.get(s)]
        return {s: self._generate_examples(s) for s in splits}

    def _generate_examples(self, split):
        meta = self._extra_metadata
        staged = collect.staged_episodes(self._staging_dir, split)
        for index in tqdm(range(self._split_sizes[split]), desc=f"write {split} shards", unit="ep"):
            if index not in staged:
                raise FileNotFoundError(f"episode {index} of split {split!r} is not staged in {self._staging_dir}")
            ep = collect.load_staged(staged[index])
            steps = {k: ep[k] for k in collect.STEP_KEYS if k not in ("image", "state")}
            steps["discount"] = np.ones(len(ep["reward"]), np.float32)
            steps["observation"] = {"image": ep["image"], "state": ep["state"]}
            yield index, {"steps": steps, "episode_metadata": {
                "index": index, "seed": int(ep["meta_seed"]), "return": float(ep["meta_return"]),
                "domain": meta.get("domain", ""), "task": meta.get("task", ""),
                "difficulty": meta.get("preset", ""), "background_video": str(ep["meta_video"])}}


def labeled_subsets(num_train: int, seed: int, budgets=LABEL_BUDGETS) -> dict[str, list[int]]:
    """Nested random subsets of k whole training trajectories (k <= num_train)."""
    order = np.random.default_rng(seed).permutation(num_train)
    return {str(k): sorted(int(i) for i in order[:k]) for k in budgets if k <= num_train}


def dataset_dir(data_dir: str, name: str) -> str:
    return os.path.join(data_dir, DATASET_NAME, name, str(DcsTrajectories.VERSION))


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
        for k in (*collect.STEP_KEYS, "discount"):
            if k not in out and k in steps[0]:
                out[k] = np.stack([s[k] for s in steps])
        meta = example["episode_metadata"]
        out["metadata"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in meta.items()}
        return out

    def episodes(self, split: str, indices=None, progress: bool = False) -> list[dict]:
        indices = range(self.num_episodes(split)) if indices is None else indices
        if progress:
            from tqdm.auto import tqdm
            indices = tqdm(indices, desc=f"read {split}", unit="ep")
        return [self.episode(split, i) for i in indices]

    def shapes(self) -> dict:
        """Episode length and per-step shapes, from the dataset's features and settings."""
        steps = self.builder.info.features["steps"]
        image = steps["observation"]["image"].shape
        return {"length": int(self.metadata["settings"]["num_steps"]) + 1, "image_size": int(image[0]),
                "state_dim": int(steps["observation"]["state"].shape[0]), "action_dim": int(steps["action"].shape[0])}

    def resolve_action_key(self, key: str) -> str:
        """'reference' -> the action the reference's datasets store for this task's expert."""
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
