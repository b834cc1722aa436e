"""Every stage's metrics reach TensorBoard (and wandb, offline) besides metrics.jsonl; a resumed run
neither duplicates nor loses a point."""
import os
import shutil

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from configs import laom, lapo
from lam_jax.data.episodes import synthetic_episodes
from lam_jax.training.metrics import MetricWriter, log_result, read_jsonl
from lam_jax.training.train_lam import Trainer

LAM_TAGS = {"loss", "fdm_loss", "grad_norm", "learning_rate", "samples_per_s", "tflops", "mfu",
            "probe/latent_action_mse", "probe/embedding_action_mse", "probe/embedding_state_mse",
            "norm/latent_action", "norm/embedding", "norm/predicted_embedding", "norm/target_embedding"}


@pytest.fixture(scope="module")
def episodes():
    return synthetic_episodes(8, 24, image_size=32, seed=0)


def _events(workdir):
    ea = EventAccumulator(os.path.join(workdir, "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    ea.Reload()
    return ea


def _train(config, episodes, workdir, **overrides):
    cfg = config.get_config("smoke")
    cfg.update(dict(num_steps=10, log_every=1, save_every=5, **overrides))
    Trainer(cfg, episodes, workdir=str(workdir)).run(progress=False)


def test_pretraining_writes_scalars_and_images_that_tensorboard_reads(episodes, tmp_path):
    _train(laom, episodes, tmp_path / "laom")
    ea = _events(tmp_path / "laom")
    assert LAM_TAGS <= set(ea.Tags()["scalars"])
    assert [e.step for e in ea.Scalars("loss")] == list(range(1, 11))
    rows = read_jsonl(tmp_path / "laom" / "metrics.jsonl")
    assert [e.value for e in ea.Scalars("loss")] == pytest.approx([r["loss"] for r in rows])
    assert all(0 < e.value < 1 for e in ea.Scalars("mfu"))
    # LAOM's views at the first step and every save_every (log.images_every=0): 4 windows x 4 views
    views = ea.Images("laom/views")
    assert [e.step for e in views] == [1, 5, 10] and (views[0].height, views[0].width) == (4 * 32, 4 * 32)
    _train(lapo, episodes, tmp_path / "lapo", **{"log": {"images_every": 3}})
    frames = _events(tmp_path / "lapo").Images("lapo/next_frame")
    assert [e.step for e in frames] == [1, 3, 6, 9] and (frames[0].height, frames[0].width) == (4 * 32, 3 * 32)


def test_a_resumed_run_neither_duplicates_nor_loses_a_point(episodes, tmp_path):
    _train(lapo, episodes, tmp_path / "straight")
    _train(lapo, episodes, tmp_path / "resumed")
    # as if killed after logging steps 6..10 but before the step-10 checkpoint
    shutil.rmtree(tmp_path / "resumed" / "checkpoints" / "10")
    _train(lapo, episodes, tmp_path / "resumed")
    straight, resumed = _events(tmp_path / "straight"), _events(tmp_path / "resumed")
    for tag in ("loss", "fdm_loss", "grad_norm"):
        assert [e.step for e in resumed.Scalars(tag)] == list(range(1, 11))
        assert [e.value for e in resumed.Scalars(tag)] == [e.value for e in straight.Scalars(tag)]
    assert [r["step"] for r in read_jsonl(tmp_path / "resumed" / "metrics.jsonl")] == list(range(1, 11))


def test_tensorboard_off_and_results_logged_on_their_own(tmp_path):
    writer = MetricWriter(str(tmp_path / "quiet"), {"tensorboard": False})
    writer.scalars(1, {"loss": 0.5})
    writer.close()
    assert os.listdir(tmp_path / "quiet") == ["metrics.jsonl"]
    for _ in range(2):  # written again, a result replaces the last one
        log_result(str(tmp_path / "eval"), {"mean_return": 3.0, "env": {"task": "x"}, "nested": {"mse": 1.5}},
                   series={"eval/return": [1.0, 2.0, 6.0]})
    ea = _events(tmp_path / "eval")
    assert [(e.step, e.value) for e in ea.Scalars("eval/return")] == [(0, 1.0), (1, 2.0), (2, 6.0)]
    assert [e.value for e in ea.Scalars("mean_return")] == [3.0] and ea.Scalars("nested/mse")[0].value == 1.5
    assert len(read_jsonl(tmp_path / "eval" / "metrics.jsonl")) == 4


def test_wandb_offline_writes_a_run_directory_and_resumes_the_same_run(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = {"tensorboard": False, "wandb": True, "wandb_project": "lam-jax-test", "wandb_mode": "offline"}
    for steps in ((1, 2), (2, 3)):  # the second resumes after step 1
        writer = MetricWriter(str(tmp_path), cfg, name="run", config={"lr": 1e-3})
        writer.resume(steps[0] - 1)
        for s in steps:
            writer.scalars(s, {"loss": float(s)})
        writer.images(steps[-1], {"views": np.zeros((8, 8, 3), np.uint8)})
        writer.close()
    run_id = (tmp_path / "wandb_id.txt").read_text().strip()
    runs = sorted(p.name for p in (tmp_path / "wandb").iterdir() if p.name.startswith("offline-run-"))
    assert len(runs) == 2 and all(r.endswith(run_id) for r in runs)
    assert all((tmp_path / "wandb" / r / f"run-{run_id}.wandb").stat().st_size > 0 for r in runs)
