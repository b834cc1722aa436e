"""Convert the paper's released HDF5 files into the project's TFDS/RLDS dataset.

Every trajectory of every file is checked (structure, storage within the file, finite states and
actions; labeled trajectories against the training file) before anything is written; then the
shards are written in bounded memory, resumably and optionally by several processes
(``rlds_dataset.write_dataset``). The training file becomes split 'train' in its trajectories'
numeric order, the eval file split 'eval', and each labeled file the labeled subset of its size,
mapped through ``original_traj_idx``. Frames, states and actions are copied exactly: the released
actions are ``raw_action`` (what the ``paper`` configs train on), their clip to [-1, 1] is
``action`` (what the environment executed); the files hold no per-step rewards (NaN here).
"""
from __future__ import annotations

import dataclasses
import os
import re

from tqdm.auto import tqdm

from data_pipeline import released, rlds_dataset


@dataclasses.dataclass(frozen=True)
class ReleasedSource:
    """The released trajectories as RLDS examples (picklable, for writer processes)."""
    files: released.ReleasedFiles

    def example(self, split: str, index: int) -> dict:
        arrays, ret = self.files.read(split, index)
        return rlds_dataset.episode_example(released.as_episode(arrays, index, ret), self.files.metadata)


def default_name(train_path: str) -> str:
    """'cheetah-run-scale-easy-video-hard-64px-5k.hdf5' -> 'cheetah-run-scale-easy-video-hard-64px'."""
    stem = os.path.splitext(os.path.basename(train_path))[0]
    return re.sub(r"-5k$", "", stem)


def check_values(files: released.ReleasedFiles) -> None:
    """Finite states and actions in every trajectory (frames are uint8: nothing to check)."""
    total = sum(files.num_episodes(s) for s in files.splits)
    with tqdm(total=total, desc="check values", unit="traj", leave=False) as bar:
        for split in files.splits:
            f = files.handle(split)
            for key in released.trajectory_keys(f, files.files[split]):
                arrays = {name: f[key][name][:] for name in ("states", "actions")}
                released.check_values(arrays, f"{files.files[split]}, trajectory {key}")
                bar.update(1)


def _claim(files: released.ReleasedFiles) -> dict:
    """What makes two imports the same: each input file's name, size and attributes, the labeled files."""
    def describe(path):
        return {"file": os.path.basename(path), "bytes": os.path.getsize(path)}
    return {"files": {split: describe(p) for split, p in files.files.items()},
            "labeled": sorted(describe(p)["file"] for p in files.labeled_paths),
            "labeled_subsets": files.metadata["labeled_subsets"], "attrs": files.metadata["released_attrs"]}


def import_release(train: str, data_dir: str, eval_path: str | None = None, labeled_paths=None, name: str = "",
                   workers: int = 1, num_shards: int = 0) -> str:
    """Returns the path of the dataset, importing only what is missing (a re-run resumes)."""
    files = released.ReleasedFiles(train, eval_path, labeled_paths)
    name = name or default_name(train)
    path = rlds_dataset.dataset_dir(data_dir, name)
    claim = _claim(files)
    metadata = {**files.metadata, "import": claim}
    if rlds_dataset.built(path, "import", claim, "give this import another --name or delete the old dataset"):
        return path
    check_values(files)  # every value before the first shard is written
    sizes = {split: files.num_episodes(split) for split in ("train", "eval") if split in files.files}
    return rlds_dataset.write_dataset(path, sizes, files.shapes(), metadata, ReleasedSource(files), workers=workers,
                                      claim=claim, num_shards=num_shards)
