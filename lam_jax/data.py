"""Episode arrays for training: from a built TFDS dataset, or synthetic for tests and benchmarks."""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Episodes:
    """Equal-length episodes: frames uint8 [E, T, H, W, 3], actions [E, T, A], states [E, T, S]."""
    frames: np.ndarray
    actions: np.ndarray
    states: np.ndarray

    def __post_init__(self):
        e, t = self.frames.shape[:2]
        if self.frames.ndim != 5 or self.frames.dtype != np.uint8 or self.frames.shape[-1] != 3:
            raise ValueError(f"frames must be uint8 [E, T, H, W, 3], got {self.frames.dtype} {self.frames.shape}")
        if self.actions.shape[:2] != (e, t) or self.states.shape[:2] != (e, t):
            raise ValueError(f"actions {self.actions.shape} and states {self.states.shape} must match frames [E, T]={e, t}")

    @property
    def num_episodes(self) -> int:
        return self.frames.shape[0]

    @property
    def length(self) -> int:
        return self.frames.shape[1]

    @property
    def image_size(self) -> int:
        return self.frames.shape[2]

    @property
    def action_dim(self) -> int:
        return self.actions.shape[-1]

    @property
    def state_dim(self) -> int:
        return self.states.shape[-1]

    def subset(self, indices) -> "Episodes":
        idx = np.asarray(list(indices))
        return Episodes(self.frames[idx], self.actions[idx], self.states[idx])


def load_episodes(path: str, split: str, indices=None, progress: bool = True) -> Episodes:
    from data_pipeline.rlds_dataset import TrajectoryDataset
    eps = TrajectoryDataset(path).episodes(split, indices, progress=progress)
    if not eps:
        raise ValueError(f"split {split!r} of {path} selected no episodes")
    return Episodes(np.stack([e["image"] for e in eps]), np.stack([e["action"] for e in eps]),
                    np.stack([e["state"] for e in eps]))


def synthetic_episodes(num_episodes: int, length: int, image_size: int = 64, seed: int = 0,
                       distractor: bool = True) -> Episodes:
    """A controllable square on a (optionally moving, action-independent) striped background.

    Actions a_t in [-1, 1]^2 move the square by up to image_size/10 px per step; the state is its
    position and the background phase. Cheap to generate and learnable, so tests check real learning.
    """
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
