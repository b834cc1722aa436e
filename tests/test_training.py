import os

import jax
import numpy as np
import pytest
from flax import nnx

from configs import idm, laom, laom_labels, lapo
from lam_jax import sharding
from lam_jax.data import synthetic_episodes
from lam_jax.metrics import read_jsonl
from lam_jax.stages import pretrain
from lam_jax.train_lam import Trainer

CONFIGS = {"lapo": lapo, "laom": laom, "laom_labels": laom_labels, "idm": idm}


@pytest.fixture(scope="module")
def episodes():
    return (synthetic_episodes(8, 24, image_size=32, seed=0), synthetic_episodes(2, 24, image_size=32, seed=1))


def _cfg(method, **overrides):
    cfg = CONFIGS[method].get_config("smoke")
    cfg.update(overrides)
    return cfg


def _params(trainer):
    return jax.device_get(nnx.state(trainer.model, nnx.Param))


@pytest.mark.parametrize("method", ["lapo", "laom", "laom_labels", "idm"])
def test_loss_decreases(method, episodes, tmp_path):
    train, labeled = episodes
    cfg = _cfg(method, num_steps=60, log_every=10, save_every=1000)
    Trainer(cfg, train, labeled, workdir=str(tmp_path)).run(progress=False)
    rows = read_jsonl(os.path.join(tmp_path, "metrics.jsonl"))
    key = {"lapo": "fdm_loss", "laom": "loss", "laom_labels": "labeled_action_mse", "idm": "labeled_action_mse"}[method]
    first, last = rows[0][key], np.mean([r[key] for r in rows[-2:]])
    assert np.isfinite(last) and last < 0.8 * first, (key, [r[key] for r in rows])
    assert rows[-1]["step"] == 60 and rows[-1]["samples_per_s"] > 0


@pytest.mark.parametrize("method", ["lapo", "laom_labels"])
def test_sharded_step_equals_single_device_step(method, episodes):
    train, labeled = episodes
    one = Trainer(_cfg(method, num_devices=1), train, labeled)
    four = Trainer(_cfg(method, num_devices=4), train, labeled)
    assert four.mesh.shape[sharding.DATA_AXIS] == 4
    batch = jax.device_get(one.make_batch(one.data, one.labeled, jax.random.PRNGKey(3)))
    key = jax.random.PRNGKey(4)
    put = lambda t, m: jax.device_put(t, jax.sharding.NamedSharding(m, jax.sharding.PartitionSpec(sharding.DATA_AXIS)))  # noqa: E731
    for _ in range(2):
        one.state, m1 = one.update_step(one.state, put(batch, one.mesh), key)
        four.state, m4 = four.update_step(four.state, put(batch, four.mesh), key)
        jax.block_until_ready((m1, m4))
    for k in m1:
        np.testing.assert_allclose(float(m1[k]), float(m4[k]), rtol=2e-4, atol=1e-6, err_msg=k)
    p1, p4 = _params(one), _params(four)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=2e-5), p1, p4)


def test_resume_equals_uninterrupted_run(episodes, tmp_path):
    train, labeled = episodes
    cfg = _cfg("laom_labels", num_steps=12, save_every=6, log_every=6)
    straight = Trainer(cfg, train, labeled, workdir=str(tmp_path / "a"))
    straight.run(progress=False)
    first = Trainer(cfg, train, labeled, workdir=str(tmp_path / "b"))
    first.run(num_steps=6, progress=False)  # "killed" after the checkpoint at step 6
    del first
    resumed = Trainer(cfg, train, labeled, workdir=str(tmp_path / "b"))  # a fresh process would do this
    resumed.run(progress=False)
    a, b = jax.device_get(straight.state), jax.device_get(resumed.state)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7), a, b)
    # The EMA target encoder and optimiser moments are part of what was restored.
    target = nnx.state(resumed.model.target_encoder, nnx.Param)
    online = nnx.state(resumed.model.encoder, nnx.Param)
    assert any(not np.allclose(x, y) for x, y in zip(jax.tree.leaves(target), jax.tree.leaves(online)))
    assert sorted(os.listdir(tmp_path / "b" / "checkpoints")) == ["12", "6"]
    # Running a finished job again trains nothing and reports the last logged metrics.
    again = Trainer(cfg, train, labeled, workdir=str(tmp_path / "b"))
    assert again.run(progress=False)["loss"] == read_jsonl(str(tmp_path / "b" / "metrics.jsonl"))[-1]["loss"]
    jax.tree.map(lambda x, y: np.testing.assert_array_equal(x, y), jax.device_get(again.state), b)


def test_supervised_idm_probe_beats_chance(tmp_path):
    train = synthetic_episodes(32, 48, image_size=32, seed=0)
    evals = synthetic_episodes(4, 48, image_size=32, seed=2)
    cfg = _cfg("idm", num_steps=500, batch_size=32, labeled_batch_size=32, log_every=100)
    trainer = Trainer(cfg, train, train)
    trainer.run(progress=False)
    result = pretrain.held_out_probes(trainer, train, evals)["latent_action_probe"]
    assert result["mse"] < 0.5 * result["chance_mse"], result


def test_pretrain_stage_writes_report_and_checkpoints(tmp_path):
    cfg = lapo.get_config("smoke,num_steps=8,log_every=4,save_every=4,image_size=32,synthetic_length=16")
    cfg.workdir = str(tmp_path)
    report = pretrain.run(cfg, progress=False)
    assert report["latent_action_probe"]["mse"] > 0 and len(report["latent_action_probe"]["mse_per_dim"]) == 2
    for name in ("report.json", "metrics.jsonl", "config.json", "checkpoints"):
        assert os.path.exists(tmp_path / name), name


def test_streaming_fallback_trains(episodes, tmp_path):
    train, labeled = episodes
    cfg = _cfg("idm", num_steps=60, log_every=10)
    cfg.data.streaming = True
    trainer = Trainer(cfg, train, labeled, workdir=str(tmp_path))
    assert trainer.data is None  # nothing placed on device up front
    trainer.run(progress=False)
    rows = read_jsonl(os.path.join(tmp_path, "metrics.jsonl"))
    assert rows[-1]["labeled_action_mse"] < 0.8 * rows[0]["labeled_action_mse"]
    # Host batches are a function of (seed, step): an interrupted streaming run resumes exactly.
    cfg.save_every = 30
    Trainer(cfg, train, labeled, workdir=str(tmp_path / "b")).run(num_steps=30, progress=False)
    resumed = Trainer(cfg, train, labeled, workdir=str(tmp_path / "b"))
    resumed.run(progress=False)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7),
                 jax.device_get(trainer.state), jax.device_get(resumed.state))


def test_bfloat16_training_runs(episodes):
    train, labeled = episodes
    cfg = _cfg("laom", num_steps=3, log_every=1)
    cfg.model.dtype = "bfloat16"
    assert np.isfinite(Trainer(cfg, train, labeled).run(progress=False)["loss"])


def test_bad_training_inputs_give_clear_errors(episodes):
    train, _ = episodes
    with pytest.raises(ValueError, match="no labeled episodes"):
        Trainer(_cfg("idm"), train, None)
    with pytest.raises(ValueError, match="too short"):
        Trainer(_cfg("lapo", max_offset=30), train)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        Trainer(_cfg("lapo", batch_size=0), train)
    with pytest.raises(ValueError, match="workdir"):
        pretrain.run(_cfg("lapo"))
