import dataclasses
import glob
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from data_pipeline import backgrounds, collect, dcs, rlds_dataset
from data_pipeline.make_dataset import build_dataset, dataset_name

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env_cfg(cfg, split="train"):
    return dataclasses.replace(dcs.EnvConfig(**cfg.env), split=split)


def test_round_trip_collect_tfds_read(collect_config):
    cfg = collect_config
    cfg.keep_staging = True
    path = build_dataset(cfg)
    ds = rlds_dataset.TrajectoryDataset(path)
    assert ds.splits == ["eval", "train"]
    assert ds.num_episodes("train") == 2 and ds.num_episodes("eval") == 1
    assert ds.labeled_indices(2) == [0, 1]
    staging = os.path.join(cfg.data_dir, "staging", os.path.basename(os.path.dirname(path)))
    for split, n in (("train", 2), ("eval", 1)):
        for i in range(n):
            ep = ds.episode(split, i)
            staged = collect.load_staged(collect.staging_path(staging, split, i))
            for key in collect.STEP_KEYS:
                np.testing.assert_array_equal(ep[key], staged[key], err_msg=key)
            assert ep["image"].shape == (51, 32, 32, 3) and ep["image"].dtype == np.uint8
            assert ep["state"].shape == (51, 17) and ep["action"].shape == (51, 6)
            assert ep["is_first"][0] and ep["is_last"][-1] and ep["is_first"].sum() == ep["is_last"].sum() == 1
            assert not ep["is_terminal"].any() and np.all(ep["action"][-1] == 0)
            assert np.all(np.abs(ep["action"]) <= 1)
            meta = ep["metadata"]
            assert meta["index"] == i and meta["seed"] == collect.episode_seed(cfg.seed, split, i)
            assert meta["domain"] == "cheetah" and meta["difficulty"] == "scale_easy_video_hard"
            assert np.isclose(meta["return"], ep["reward"].sum())
            videos = backgrounds.split_videos()[split]
            assert meta["background_video"] in videos
    # The stored episode is exactly what a fresh rollout with its seed produces.
    fresh = collect.run_episode(_env_cfg(cfg), collect.episode_seed(cfg.seed, "train", 1), cfg.num_steps)
    np.testing.assert_array_equal(ds.episode("train", 1)["image"], fresh["image"])
    # Re-running with the same settings reuses the dataset; other settings are refused.
    assert build_dataset(cfg) == path
    cfg.num_steps = 60
    with pytest.raises(ValueError, match="exists, made otherwise"):
        build_dataset(cfg)


def test_corrupt_shard_and_missing_dataset_give_clear_errors(collect_config, tmp_path):
    path = build_dataset(collect_config)
    shard, = glob.glob(os.path.join(path, "*-train.array_record-*"))
    with open(shard, "r+b") as f:
        f.truncate(os.path.getsize(shard) // 2)
    with pytest.raises(rlds_dataset.CorruptDatasetError, match="corrupt"):
        rlds_dataset.TrajectoryDataset(path).episode("train", 0)
    with pytest.raises(FileNotFoundError, match="no TFDS dataset"):
        rlds_dataset.TrajectoryDataset(str(tmp_path / "nothing"))
    with pytest.raises(KeyError, match="no labeled subset of 8"):
        rlds_dataset.TrajectoryDataset(path).labeled_indices(8)


def test_bad_collection_config_is_rejected(collect_config):
    collect_config.env.task = "cheetah-fly"
    with pytest.raises(ValueError, match="unknown task"):
        build_dataset(collect_config)
    collect_config.env.task = "cheetah-run"
    collect_config.num_train = 0
    with pytest.raises(ValueError, match="num_train must be >= 1"):
        build_dataset(collect_config)


def test_labeled_subsets_are_nested_samples():
    subsets = rlds_dataset.labeled_subsets(100, seed=0)
    assert sorted(map(int, subsets)) == [2, 4, 8, 16, 32, 64]
    for small, big in zip(["2", "4", "8", "16", "32"], ["4", "8", "16", "32", "64"]):
        assert set(subsets[small]) < set(subsets[big])
    assert subsets["8"] != list(range(8))  # sampled, not the first k


def test_interrupted_collection_resumes_without_loss_or_duplicates(collect_config):
    cfg = collect_config
    cfg.num_train, cfg.num_eval, cfg.num_steps = 4, 0, 150
    cfg.keep_staging = True
    staging = os.path.join(cfg.data_dir, "staging", dataset_name(cfg), "train")
    cmd = [sys.executable, "-m", "experiments.collect_dataset", "--config=configs/collect.py:smoke",
           "--config.num_train=4", "--config.num_eval=0", "--config.num_steps=150",
           "--config.num_workers=1", f"--config.data_dir={cfg.data_dir}"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while len(glob.glob(os.path.join(staging, "episode_*.npz"))) < 1:
        assert proc.poll() is None, "collection ended before it could be interrupted"
        assert time.time() < deadline, "no episode was staged in time"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = sorted(glob.glob(os.path.join(staging, "episode_*.npz")))
    assert 1 <= len(done_before) < 4
    kept = {p: os.path.getmtime(p) for p in done_before}

    ds = rlds_dataset.TrajectoryDataset(build_dataset(cfg))
    assert ds.num_episodes("train") == 4
    assert [ds.episode("train", i)["metadata"]["index"] for i in range(4)] == [0, 1, 2, 3]
    seeds = [ds.episode("train", i)["metadata"]["seed"] for i in range(4)]
    assert seeds == [collect.episode_seed(cfg.seed, "train", i) for i in range(4)]
    # Episodes staged before the kill were reused, not collected again; all match a fresh rollout.
    assert all(os.path.getmtime(p) == mtime for p, mtime in kept.items())
    last = collect.run_episode(_env_cfg(cfg), seeds[3], cfg.num_steps)
    np.testing.assert_array_equal(ds.episode("train", 3)["image"], last["image"])
    np.testing.assert_array_equal(ds.episode("train", 3)["action"], last["action"])


def test_collection_and_its_workers_print_no_known_noise(tmp_path):
    """Neither the entry point nor the spawned collection and writer workers show gym's import notice
    or dm_control's 'settotalmass' warning (LAM_JAX_VERBOSE unset)."""
    env = {k: v for k, v in os.environ.items() if k != "LAM_JAX_VERBOSE"}
    out = subprocess.run([sys.executable, "-m", "experiments.collect_dataset", "--config=configs/collect.py:smoke",
                          "--config.num_train=2", "--config.num_eval=1", "--config.num_steps=20",
                          "--config.num_workers=2", f"--config.data_dir={tmp_path}"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "dataset:" in out.stdout
    for noise in ("Gym has been unmaintained", "settotalmass", "DeprecationWarning"):
        assert noise not in out.stderr, (noise, out.stderr[-2000:])


def test_resume_under_other_settings_is_refused(collect_config):
    build_dataset(collect_config)  # leaves no staging behind
    staging = os.path.join(collect_config.data_dir, "staging", dataset_name(collect_config))
    assert not os.path.exists(staging)
    collect_config.name, collect_config.keep_staging = "other", True
    build_dataset(collect_config)
    collect_config.num_steps = 30
    import shutil
    shutil.rmtree(rlds_dataset.dataset_dir(collect_config.data_dir, "other"))
    with pytest.raises(ValueError, match="staging.* holds episodes collected with other settings"):
        build_dataset(collect_config)


def test_missing_episodes_detects_corrupt_staging(tmp_path):
    os.makedirs(tmp_path / "train")
    (tmp_path / "train" / "episode_000001.npz").write_bytes(b"not a zip")
    assert collect.missing_episodes(str(tmp_path), "train", 3) == [0, 1, 2]
    assert not (tmp_path / "train" / "episode_000001.npz").exists()


def test_failed_collection_does_not_block_the_corrected_one(collect_config):
    cfg = collect_config
    staging = os.path.join(cfg.data_dir, "staging", dataset_name(cfg))
    cfg.env.davis_path = os.path.join(cfg.data_dir, "no_davis_here")
    with pytest.raises(ValueError, match="does not exist"):
        build_dataset(cfg)
    cfg.env.davis_path, cfg.seed = "", -1
    with pytest.raises(ValueError, match="seed must be >= 0"):
        build_dataset(cfg)
    assert not os.path.exists(os.path.join(staging, "settings.json"))  # nothing was claimed
    # An empty staging folder claimed under other settings (e.g. an interrupted start) never blocks.
    os.makedirs(staging)
    with open(os.path.join(staging, "settings.json"), "w") as f:
        f.write('{"other": 1}')
    stale = os.path.join(cfg.data_dir, "dcs_trajectories", dataset_name(cfg),
                         "incomplete.XYZ_1.1.0")
    os.makedirs(stale)  # a killed TFDS build
    cfg.seed = 0
    path = build_dataset(cfg)
    assert rlds_dataset.TrajectoryDataset(path).num_episodes("train") == 2
    assert not os.path.exists(stale)
    ep = rlds_dataset.TrajectoryDataset(path).episode("train", 0)
    np.testing.assert_array_equal(ep["discount"], np.ones(51, np.float32))  # RLDS discount


def test_davis_frames_of_any_colour_mode_become_rgb(tmp_path):
    from PIL import Image
    davis = tmp_path / "DAVIS" / "JPEGImages" / "480p"
    modes = {"L": 100, "RGBA": (10, 20, 30, 40), "P": 3, "I;16": 4000, "RGB": (1, 2, 3)}
    for i, name in enumerate(backgrounds.split_videos()["train"]):
        (davis / name).mkdir(parents=True)
        mode = list(modes)[i % len(modes)]
        ext = "jpg" if mode in ("L", "RGB") else "png"
        Image.new(mode, (48, 32), modes[mode]).save(davis / name / f"00000.{ext}")
    for name in backgrounds.split_videos()["train"][:5]:
        frame_path = next((davis / name).iterdir())
        frame = backgrounds.read_rgb(str(frame_path))
        assert frame.shape == (32, 48, 3) and frame.dtype == np.uint8, frame_path
    env = dcs.make_env(dcs.EnvConfig(davis_path=str(tmp_path / "DAVIS")), seed=0)
    assert env.reset().observation["pixels"].shape == (64, 64, 3)
    (davis / "bear" / "00001.jpg").write_bytes(b"not an image")
    with pytest.raises(backgrounds.BackgroundError, match="00001.jpg"):
        backgrounds.read_rgb(str(davis / "bear" / "00001.jpg"))
