"""Parallel, resumable expert trajectory collection into per-episode staging files.

Each episode is written atomically (temporary file, then rename) as soon as it finishes, so an
interrupted run loses at most the episodes in flight; a re-run collects only the missing ones.
Episode i of a split always uses the same seed, so the result does not depend on interruptions
or on the number of workers.
"""
from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import re
import zipfile

import numpy as np
from tqdm.auto import tqdm

from data_pipeline import env_config, quiet
from data_pipeline.rlds_dataset import STEP_KEYS
from data_pipeline.experts import ExpertPolicy

SPLIT_IDS = {"train": 0, "eval": 1}


def episode_seed(base_seed: int, split: str, index: int) -> int:
    return int(np.random.SeedSequence([base_seed, SPLIT_IDS[split], index]).generate_state(1)[0])


def run_episode(env_cfg: env_config.EnvConfig, seed: int, num_steps: int) -> dict:
    """One expert episode of ``num_steps`` actions as RLDS-style arrays of length num_steps + 1.

    Step t holds observation o_t, the action taken in it and the reward that followed; the last
    step holds the final observation with a zero action (RLDS convention).
    """
    policy = ExpertPolicy(env_cfg.task)
    from data_pipeline import dcs  # the simulator: imported where an episode runs
    env = dcs.make_env(env_cfg, seed)
    n = num_steps + 1
    out = dict(image=np.zeros((n, env_cfg.image_size, env_cfg.image_size, 3), np.uint8),
               state=np.zeros((n, policy.state_dim), np.float32),
               action=np.zeros((n, policy.action_dim), np.float32),
               raw_action=np.zeros((n, policy.action_dim), np.float32),
               reward=np.zeros((n,), np.float32))
    ts = env.reset()
    for t in range(n):
        out["image"][t] = ts.observation["pixels"]
        out["state"][t] = policy.flatten(ts.observation)
        if t == num_steps:
            break
        out["action"][t], out["raw_action"][t] = policy.act(out["state"][t])
        ts = env.step(out["action"][t])
        out["reward"][t] = ts.reward or 0.0
        if ts.last() and t + 1 < num_steps:
            raise RuntimeError(f"episode ended after {t + 1} steps, before the requested {num_steps}")
    out["is_first"] = np.arange(n) == 0
    out["is_last"] = np.arange(n) == n - 1
    out["is_terminal"] = np.zeros(n, bool)  # DMC tasks never terminate, they time out
    out["meta_seed"] = np.int64(seed)
    out["meta_video"] = np.str_(dcs.current_video(env))
    out["meta_return"] = np.float32(out["reward"].sum())
    return out


def staging_path(staging_dir: str, split: str, index: int) -> str:
    return os.path.join(staging_dir, split, f"episode_{index:06d}.npz")


def staged_episodes(staging_dir: str, split: str) -> dict[int, str]:
    """Finished episodes of a split by index (partial files of killed workers are ignored)."""
    folder = os.path.join(staging_dir, split)
    names = os.listdir(folder) if os.path.isdir(folder) else []
    found = (re.fullmatch(r"episode_(\d{6})\.npz", n) for n in names)
    return {int(m.group(1)): os.path.join(folder, m.group(0)) for m in found if m}


def load_staged(path: str) -> dict:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _is_valid(path: str) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None and all(f"{k}.npy" in z.namelist() for k in STEP_KEYS)
    except (zipfile.BadZipFile, OSError):
        return False


def _collect_one(job) -> tuple[int, float]:
    env_cfg, split, index, seed, num_steps, staging_dir = job
    episode = run_episode(dataclasses.replace(env_cfg, split=split), seed, num_steps)
    path = staging_path(staging_dir, split, index)
    tmp = f"{path}.partial{os.getpid()}"  # must not match staged_episodes()
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **episode)
        os.replace(tmp, path)
    except BaseException:  # a full disk, say: leave no partial file behind
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return index, float(episode["meta_return"])


def missing_episodes(staging_dir: str, split: str, num_episodes: int) -> list[int]:
    """Indices not yet collected; corrupt leftovers are removed so they are collected again."""
    todo = []
    for i in range(num_episodes):
        path = staging_path(staging_dir, split, i)
        if os.path.exists(path) and _is_valid(path):
            continue
        if os.path.exists(path):
            print(f"warning: {path} is corrupt; collecting episode {i} again")
            os.remove(path)
        todo.append(i)
    return todo


def collect_split(env_cfg: env_config.EnvConfig, split: str, num_episodes: int, num_steps: int, staging_dir: str,
                  base_seed: int = 0, num_workers: int = 1) -> list[float]:
    """Collects episodes 0..num_episodes-1 of a split (skipping those already staged)."""
    env_cfg.validate()
    if split not in SPLIT_IDS:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLIT_IDS)}")
    os.makedirs(os.path.join(staging_dir, split), exist_ok=True)
    if env_config.PRESETS[env_cfg.preset].num_videos != 0:
        env_config.background_folder(env_cfg)  # fail fast (and generate procedural videos once) before forking
    todo = missing_episodes(staging_dir, split, num_episodes)
    jobs = [(env_cfg, split, i, episode_seed(base_seed, split, i), num_steps, staging_dir) for i in todo]
    bar = tqdm(total=num_episodes, initial=num_episodes - len(todo), desc=f"collect {split}", unit="ep")
    returns = []
    if num_workers <= 1:
        results = map(_collect_one, jobs)
        for _, ret in results:
            returns.append(ret)
            bar.update(1)
    else:
        # spawn: GL contexts and MuJoCo state must not be shared through fork.
        with mp.get_context("spawn").Pool(min(num_workers, max(len(jobs), 1)), quiet.silence_known_noise) as pool:
            for _, ret in pool.imap_unordered(_collect_one, jobs):
                returns.append(ret)
                bar.set_postfix(last_return=f"{ret:.1f}")
                bar.update(1)
    bar.close()
    return returns
