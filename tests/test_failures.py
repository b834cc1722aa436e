"""Bad inputs stop a stage early with a clear error and leave nothing behind: frames of another
size than a trained model's, bad stage settings, a collection write that fails; and names that
would collide get their own."""
import os

import numpy as np
import pytest

from configs import collect as collect_configs
from configs import downstream as downstream_configs
from configs import common, lapo
from data_pipeline import collect, make_dataset
from data_pipeline import synthetic_released as synth
from lam_jax.data.episodes import DatasetEpisodes, synthetic_episodes
from lam_jax.stages import downstream, pretrain, probe


@pytest.fixture(scope="module")
def lam_32px(tmp_path_factory):
    cfg = common.override(lapo.get_config("smoke"), ["num_steps=2", "log_every=1", "save_every=2", "data.image_size=32",
                                                     "data.synthetic_length=24"])
    cfg.workdir = str(tmp_path_factory.mktemp("lam"))
    pretrain.run(cfg, progress=False)
    return cfg.workdir


@pytest.fixture(scope="module")
def dataset_16px(tmp_path_factory):
    folder = tmp_path_factory.mktemp("release")
    return synth.write_release(str(folder), 4, 2, labeled=(2,), length=24, image_size=16)


def test_frames_of_another_size_are_named_before_anything_is_written(lam_32px, dataset_16px, tmp_path):
    out = tmp_path / "actor"
    with pytest.raises(ValueError, match=r"was trained on 32 px frames but .*-16px-5k.hdf5 holds 16 px frames"):
        downstream.train_bc(downstream_configs.get_config("smoke"), lam_32px,
                            DatasetEpisodes(dataset_16px, "train"), str(out))
    assert not out.exists()
    with pytest.raises(ValueError, match=r"was trained on 32 px frames but .* holds 16 px frames"):
        probe.run(lam_32px, dataset=dataset_16px, progress=False)


def test_bad_stage_settings_write_nothing(lam_32px, tmp_path):
    dcfg = downstream_configs.get_config("smoke")
    dcfg.bc.batch_size = 0
    out = tmp_path / "actor"
    with pytest.raises(ValueError, match=r"bc: batch_size must be >= 1"):
        downstream.train_bc(dcfg, lam_32px, synthetic_episodes(2, 24, image_size=32), str(out))
    assert not out.exists()


def test_a_failed_episode_write_leaves_no_partial_file(tmp_path, monkeypatch):
    cfg = collect_configs.get_config("smoke")
    env_cfg = collect.env_config.EnvConfig(**cfg.env)

    def full_disk(f, **arrays):
        f.write(b"half an episode")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np, "savez_compressed", full_disk)
    os.makedirs(tmp_path / "train")
    with pytest.raises(OSError, match="No space left"):
        collect._collect_one((env_cfg, "train", 0, 1, 5, str(tmp_path)))
    assert os.listdir(tmp_path / "train") == []


def test_a_davis_collection_gets_its_own_default_name():
    cfg = collect_configs.get_config("small")
    procedural = make_dataset.dataset_name(cfg)
    cfg.env.davis_path = "/data/DAVIS"
    assert make_dataset.dataset_name(cfg) == procedural + "_davis"


def _pretrain_error_lines(workdir, *flags) -> list[str]:
    """stderr's non-blank lines of a pretraining that must fail; it leaves no workdir behind."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "experiments.pretrain", "--config=configs/lapo.py:smoke",
                          f"--config.workdir={workdir}", *flags], cwd=os.path.dirname(os.path.dirname(__file__)),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0, out.stderr[-2000:]
    assert not workdir.exists()
    return [x for x in out.stderr.splitlines() if x.strip()]


@pytest.mark.parametrize("flag, line", [
    ("--config.lr=3", "error: unknown config key in --config.lr"),
    ("--config.model.latnt_dim=3", 'error: unknown config key in --config.model.latnt_dim: Did you mean "latent_dim"'),
    ("--config.data.path=/nonexistent/x", "error: config.data.path '/nonexistent/x' does not exist"),
    ("--config.batch_size=-4", "error: config.batch_size must be > 0, got -4"),
    ("--config.model.latent_dim=100000000", "error: the lapo model's parameters, gradients and Adam moments take"),
])
def test_config_errors_are_one_line_and_write_nothing(tmp_path, flag, line):
    lines = _pretrain_error_lines(tmp_path / "run", flag)
    assert len(lines) == 1 and lines[0].startswith(line), lines


def test_an_image_size_the_data_does_not_have_is_one_line(dataset_16px, tmp_path):
    lines = _pretrain_error_lines(tmp_path / "run", f"--config.data.path={dataset_16px}", "--config.data.image_size=32")
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: config.data.image_size=32, but {dataset_16px} holds 16 px frames"), lines


def test_episodes_that_cannot_fit_are_refused_before_placing(monkeypatch):
    from lam_jax.data import sampling
    from lam_jax.devices import memory, sharding
    eps = synthetic_episodes(4, 24, 16)
    assert memory.free_bytes(sharding.make_mesh(1).devices.flat[0]) > 2 ** 20  # the host's MemAvailable
    monkeypatch.setattr(memory, "free_bytes", lambda device: 1000)
    with pytest.raises(memory.MemoryNeedError, match=r"the episodes for .* take .* GiB free: train with "
                                                     r"--config.data.streaming=True"):
        sampling.place_episodes(eps, sharding.make_mesh(1))
    monkeypatch.setattr(memory, "free_bytes", lambda device: None)  # unknown: no check
    assert sampling.place_episodes(eps, sharding.make_mesh(1))["frames"].shape[0] == 4
