"""Synthetic files in the paper's released HDF5 layout (``data_pipeline.released``), for tests,
benchmarks and the device check: a moving texture, states, and raw actions beyond [-1, 1]."""
from __future__ import annotations

import os

import numpy as np


def trajectory(index: int, length: int, image_size: int, state_dim: int, action_dim: int, seed: int = 0) -> dict:
    """obs uint8 (T, H, W, 3), states and raw actions float32; a function of (seed, index) only."""
    rng = np.random.default_rng((seed, index))
    blocks = rng.integers(0, 256, (image_size // 2, image_size // 2, 3), dtype=np.uint8)
    texture = np.repeat(np.repeat(blocks, 4, 0), 4, 1)  # 4x4 blocks: spatial structure, as rendered frames have
    shift = rng.integers(0, image_size, 2)
    t = np.arange(length)
    rows = (t[:, None] + shift[0] + np.arange(image_size)[None]) % (2 * image_size)
    cols = (2 * t[:, None] + shift[1] + np.arange(image_size)[None]) % (2 * image_size)
    obs = texture[rows[:, :, None], cols[:, None, :]]
    obs += rng.integers(0, 8, obs.shape, dtype=np.uint8)  # fresh noise per frame, so frames differ in time
    return {"obs": obs, "states": rng.normal(size=(length, state_dim)).astype(np.float32),
            "actions": rng.normal(0, 2.0, (length, action_dim)).astype(np.float32)}  # raw PPO outputs exceed +-1


def write_file(path: str, num: int, length: int = 1000, image_size: int = 64, state_dim: int = 17,
               action_dim: int = 6, task: str = "cheetah-run", difficulty: str = "scale_easy_video_hard",
               split: str = "train", seed: int = 0, track_order: bool = True, originals=None) -> str:
    """A released-layout file of ``num`` trajectories. ``originals``: for a labeled file, the
    training file's indices its trajectories copy (stored as ``original_traj_idx``, a string as the
    reference writes it); without ``track_order`` h5py lists groups in name order, as the released
    labeled files do."""
    import h5py
    domain, task_name = task.split("-")
    with h5py.File(path, "w", track_order=track_order) as f:
        f.attrs.update({"domain_name": domain, "task_name": task_name, "difficulty": difficulty, "dynamic": True,
                        "img_hw": image_size, "split": split})
        returns = []
        for i in range(num):
            source = i if originals is None else int(originals[i])
            traj = trajectory(source, length, image_size, state_dim, action_dim, seed)
            g = f.create_group(str(i))
            for name, value in traj.items():
                g.create_dataset(name, data=value)
            g.attrs["traj_return"] = float(traj["actions"].sum())
            if originals is not None:
                g.attrs["original_traj_idx"] = str(source)
            returns.append(g.attrs["traj_return"])
        f.attrs["dataset_return"] = float(np.mean(returns))
    return path


def write_release(folder: str, num_train: int, num_eval: int, labeled=(2, 4), length: int = 1000,
                  image_size: int = 64, state_dim: int = 17, action_dim: int = 6, task: str = "cheetah-run",
                  difficulty: str = "scale_easy_video_hard", seed: int = 0) -> str:
    """A training file, an eval file and labeled files with the released names; returns the training file."""
    os.makedirs(folder, exist_ok=True)
    stem = f"{task}-{difficulty.replace('_', '-')}"
    dims = dict(length=length, image_size=image_size, state_dim=state_dim, action_dim=action_dim, task=task,
                difficulty=difficulty)
    train = write_file(os.path.join(folder, f"{stem}-{image_size}px-5k.hdf5"), num_train, seed=seed, **dims)
    if num_eval:
        write_file(os.path.join(folder, f"{stem}-{image_size}px-eval.hdf5"), num_eval, split="val",
                   seed=seed + 1, **dims)
    order = np.random.default_rng(42).permutation(num_train)
    for k in labeled:
        write_file(os.path.join(folder, f"{stem}-labeled-1000x{k}-{image_size}px.hdf5"), k, seed=seed,
                   track_order=False, originals=order[:k], **dims)
    return train
