"""Episodes for training: arrays in memory, a dataset read on demand (a built TFDS dataset or a
released HDF5 file), or synthetic.

Anything with ``num_episodes``, the shape attributes below and ``load(indices) -> Episodes`` is
an episode source: the device placement and the streaming sampler read through it, a few
episodes at a time, so no process ever holds a whole large dataset in host memory.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import os

import jax
import numpy as np

DECODE_THREADS = min(8, os.cpu_count() or 1)


@dataclasses.dataclass
class Episodes:
    """Equal-length episodes: frames uint8 [E, T, H, W, 3], actions [E, T, A], states [E, T, S]."""
    frames: np.ndarray
    actions: np.ndarray
    states: np.ndarray

    def __post_init__(self):
        if self.frames.ndim != 5 or self.frames.dtype != np.uint8 or self.frames.shape[-1] != 3:
            raise ValueError(f"frames must be uint8 [E, T, H, W, 3], got {self.frames.dtype} {self.frames.shape}")
        e, t = self.frames.shape[:2]
        if self.actions.shape[:2] != (e, t) or self.states.shape[:2] != (e, t):
            raise ValueError(f"actions {self.actions.shape} and states {self.states.shape} must match frames "
                             f"[E, T]={e, t}")
        self.num_episodes, self.length, self.image_size = self.frames.shape[:3]
        self.action_dim, self.state_dim = self.actions.shape[-1], self.states.shape[-1]

    def load(self, indices) -> "Episodes":
        idx = np.asarray(list(indices), np.int64)
        return Episodes(self.frames[idx], self.actions[idx], self.states[idx])

    subset = load


def open_dataset(path: str, eval_path: str | None = None, labeled_paths=None):
    """A built TFDS dataset folder, or a released ``.hdf5`` training file read in place (with its
    eval and labeled files: by default those beside it with the released names)."""
    from data_pipeline import released
    if released.is_hdf5_path(path):
        return released.ReleasedFiles(path, eval_path, labeled_paths)
    from data_pipeline.rlds_dataset import TrajectoryDataset
    return TrajectoryDataset(path)


class DatasetEpisodes:
    """Episodes ``indices`` (default: all) of a split of a dataset (``open_dataset``), read only when loaded.

    ``action_key``: 'reference' (what the reference's datasets store: the raw policy output of the
    PPO experts, the squashed action of the SAC expert), 'action' (executed, clipped) or 'raw_action'.
    ``dataset``: an already open dataset of ``path`` (one handle shared by the splits and subsets).
    """

    def __init__(self, path: str, split: str, indices=None, action_key: str = "reference", dataset=None):
        self.dataset = dataset if dataset is not None else open_dataset(path)
        self.path, self.split = path, split
        total = self.dataset.num_episodes(split)
        self.indices = np.arange(total) if indices is None else np.asarray(list(indices), np.int64)
        if len(self.indices) == 0:
            raise ValueError(f"split {split!r} of {path} selected no episodes")
        if self.indices.min() < 0 or self.indices.max() >= total:
            raise IndexError(f"episode indices must be in [0, {total}) for split {split!r} of {path}")
        self.action_key = self.dataset.resolve_action_key(action_key)
        shape = self.dataset.shapes()
        self.length, self.image_size = shape["length"], shape["image_size"]
        self.action_dim, self.state_dim = shape["action_dim"], shape["state_dim"]
        self.placed = {}  # mesh -> these episodes on its devices (sampling.place_episodes)

    @property
    def num_episodes(self) -> int:
        return len(self.indices)

    def load(self, indices) -> Episodes:
        if self.placed and jax.process_count() == 1:  # on the devices already: read back, not decoded again
            rows, placed = np.asarray(list(indices), np.int64), next(iter(self.placed.values()))
            return Episodes(*(np.asarray(placed[k][rows]) for k in ("frames", "actions", "states")))
        idx = [int(self.indices[i]) for i in indices]
        n = len(idx)
        out = Episodes(np.empty((n, self.length, self.image_size, self.image_size, 3), np.uint8),
                       np.empty((n, self.length, self.action_dim), np.float32),
                       np.empty((n, self.length, self.state_dim), np.float32))
        unique = sorted(set(idx))  # an index repeated within one load is decoded once
        with concurrent.futures.ThreadPoolExecutor(DECODE_THREADS) as pool:  # zlib decoding releases the GIL
            decoded = dict(zip(unique, pool.map(lambda i: self.dataset.episode(self.split, i), unique)))
        for row, i in enumerate(idx):
            ep = decoded[i]
            out.frames[row], out.actions[row], out.states[row] = ep["image"], ep[self.action_key], ep["state"]
        return out

    def subset(self, indices) -> "DatasetEpisodes":
        return DatasetEpisodes(self.path, self.split, self.indices[np.asarray(list(indices), np.int64)],
                               self.action_key, self.dataset)


def synthetic_episodes(num_episodes: int, length: int, image_size: int = 64, seed: int = 0,
                       distractor: bool = True) -> Episodes:
    """A controllable square on a (optionally moving, action-independent) striped background.

    Actions a_t in [-1, 1]^2 move the square by up to image_size/10 px per step; the state is its
    position and the background phase. Cheap to generate and learnable, so tests check real learning.
    """
    if num_episodes < 1 or length < 2 or image_size < 8:
        raise ValueError(f"synthetic episodes need num_episodes >= 1, length >= 2, image_size >= 8; got "
                         f"{num_episodes}, {length}, {image_size}")
    rng = np.random.default_rng(seed)
    actions = np.clip(rng.normal(0, 0.6, (num_episodes, length, 2)), -1, 1).astype(np.float32)
    actions[:, -1] = 0
    pos = np.zeros((num_episodes, length, 2), np.float32)
    speed, half = image_size / 10, max(image_size // 16, 2)
    pos[:, 0] = rng.uniform(image_size / 4, 3 * image_size / 4, (num_episodes, 2))
    for t in range(1, length):
        pos[:, t] = np.clip(pos[:, t - 1] + speed * actions[:, t - 1], half + 1, image_size - half - 2)
    phase = (np.arange(length)[None, :] * rng.uniform(0.5, 2.0, (num_episodes, 1))).astype(np.float32)
    ys, xs = np.mgrid[:image_size, :image_size]
    frames = np.empty((num_episodes, length, image_size, image_size, 3), np.uint8)
    colour = rng.uniform(0.3, 1.0, (num_episodes, 3))
    for e in range(num_episodes):
        for t in range(length):
            bg = 0.5 + 0.5 * np.sin((xs + ys + phase[e, t]) * 8.0 / image_size) if distractor else np.zeros_like(xs)
            img = np.repeat(bg[..., None] * 0.4, 3, -1) * colour[e]
            x, y = pos[e, t].round().astype(int)
            img[y - half:y + half, x - half:x + half] = (1.0, 0.9, 0.2)
            frames[e, t] = (img * 255).astype(np.uint8)
    states = np.concatenate([pos / image_size, np.sin(phase)[..., None]], -1).astype(np.float32)
    return Episodes(frames, actions, states)
