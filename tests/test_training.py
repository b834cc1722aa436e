import json
import os
import shutil

import jax
import numpy as np
import pytest
from flax import nnx

from configs import common, idm, laom, laom_labels, lapo
from lam_jax.training import optim
from lam_jax.devices import sharding
from lam_jax.training.checkpoint import Checkpointer, NonFiniteError
from lam_jax.data.episodes import synthetic_episodes
from lam_jax.training.metrics import read_jsonl
from lam_jax.training.run_dir import ConfigMismatchError
from lam_jax.stages import pretrain
from lam_jax.training.train_lam import Trainer, resolve_schedule

CONFIGS = {"lapo": lapo, "laom": laom, "laom_labels": laom_labels, "idm": idm}


@pytest.fixture(scope="module")
def episodes():
    train = synthetic_episodes(8, 24, image_size=32, seed=0)
    return train, train.subset(range(2))


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
    Trainer(cfg, labeled if method == "idm" else train, labeled, workdir=str(tmp_path)).run(progress=False)
    rows = read_jsonl(os.path.join(tmp_path, "metrics.jsonl"))
    key = {"lapo": "fdm_loss", "laom": "loss", "laom_labels": "labeled_action_mse", "idm": "action_mse"}[method]
    first, last = rows[0][key], np.mean([r[key] for r in rows[-2:]])
    assert np.isfinite(last) and last < 0.8 * first, (key, [r[key] for r in rows])
    assert rows[-1]["step"] == 60 and rows[-1]["samples_per_s"] > 0


def test_reference_schedule_warmup_then_linear_decay_to_zero():
    sched = optim.linear_warmup_decay(1e-4, 3, 10)
    values = [float(sched(i)) for i in range(11)]
    np.testing.assert_allclose(values[:4], [0, 1e-4 / 3, 2e-4 / 3, 1e-4], rtol=1e-6)
    np.testing.assert_allclose(values[3:], np.linspace(1e-4, 0, 8), rtol=1e-5, atol=1e-12)
    cfg = laom.get_config("paper")
    # Epochs over the reference dataset: 5000 trajectories x (1000 - 10) windows, batch 512.
    assert resolve_schedule(cfg, 5000 * 990) == (96680, 29004)


@pytest.mark.parametrize("method", ["lapo", "laom_labels"])
def test_sharded_step_equals_single_device_step(method, episodes):
    train, labeled = episodes
    one = Trainer(_cfg(method, num_devices=1), train, labeled)
    four = Trainer(_cfg(method, num_devices=4), train, labeled)
    assert four.mesh.shape[sharding.DATA_AXIS] == 4
    batch = jax.device_get(one.make_batch(one.data, one.labeled, jax.random.PRNGKey(3)))
    key = jax.random.PRNGKey(4)
    put = lambda t, m: jax.device_put(t, sharding.split(m))  # noqa: E731
    for step in range(2):
        one.state, one.health, m1 = one.update_step(one.state, one.health, put(batch, one.mesh), key, step)
        four.state, four.health, m4 = four.update_step(four.state, four.health, put(batch, four.mesh), key, step)
        jax.block_until_ready((m1, m4))
    for k in m1:
        np.testing.assert_allclose(float(m1[k]), float(m4[k]), rtol=2e-4, atol=1e-6, err_msg=k)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=2e-5), _params(one), _params(four))


def test_resume_equals_uninterrupted_run(episodes, tmp_path):
    train, labeled = episodes
    cfg = _cfg("laom_labels", num_steps=12, save_every=6, log_every=3)
    straight = Trainer(cfg, train, labeled, workdir=str(tmp_path / "a"))
    straight.run(progress=False)
    first = Trainer(cfg, train, labeled, workdir=str(tmp_path / "b"))
    first.run(num_steps=8, progress=False)
    del first
    shutil.rmtree(tmp_path / "b" / "checkpoints" / "8")  # as if killed after logging step 8, before saving it
    resumed = Trainer(cfg, train, labeled, workdir=str(tmp_path / "b"))  # a fresh process would do this
    resumed.run(progress=False)
    a, b = jax.device_get(straight.state), jax.device_get(resumed.state)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7), a, b)
    # The EMA target encoder and optimiser moments are part of what was restored.
    target = nnx.state(resumed.model.target_encoder, nnx.Param)
    online = nnx.state(resumed.model.encoder, nnx.Param)
    assert any(not np.allclose(x, y) for x, y in zip(jax.tree.leaves(target), jax.tree.leaves(online)))
    assert sorted(os.listdir(tmp_path / "b" / "checkpoints")) == ["12", "6"]
    # metrics.jsonl has each step once, as the uninterrupted run's.
    steps = [r["step"] for r in read_jsonl(str(tmp_path / "b" / "metrics.jsonl"))]
    assert steps == [r["step"] for r in read_jsonl(str(tmp_path / "a" / "metrics.jsonl"))] == [3, 6, 9, 12]
    # Running a finished job again trains nothing and reports the last logged metrics.
    again = Trainer(cfg, train, labeled, workdir=str(tmp_path / "b"))
    assert again.run(progress=False)["loss"] == read_jsonl(str(tmp_path / "b" / "metrics.jsonl"))[-1]["loss"]
    jax.tree.map(lambda x, y: np.testing.assert_array_equal(x, y), jax.device_get(again.state), b)


def test_resume_refuses_changed_settings_and_allows_more_steps(episodes, tmp_path):
    train, labeled = episodes
    cfg = _cfg("lapo", num_steps=4, save_every=2, log_every=2)
    Trainer(cfg, train, workdir=str(tmp_path)).run(progress=False)
    original = (tmp_path / "config.json").read_text()
    for change in ({"learning_rate": 5e-3}, {"model": {**cfg.model.to_dict(), "latent_dim": 64}}):
        changed = cfg.copy_and_resolve_references()
        changed.update(change)
        with pytest.raises(ConfigMismatchError, match=list(change)[0]):
            Trainer(changed, train, workdir=str(tmp_path)).run(progress=False)
        assert (tmp_path / "config.json").read_text() == original  # never silently overwritten
    longer = _cfg("lapo", num_steps=6, save_every=2, log_every=2)
    Trainer(longer, train, workdir=str(tmp_path)).run(progress=False)
    assert json.loads((tmp_path / "config.json").read_text())["num_steps"] == 6
    assert "num_steps" in (tmp_path / "resumes.jsonl").read_text()
    assert read_jsonl(str(tmp_path / "metrics.jsonl"))[-1]["step"] == 6


def test_divergence_stops_at_its_step_and_never_saves_non_finite_state(episodes, tmp_path):
    train, _ = episodes
    good = _cfg("lapo", num_steps=4, save_every=2, log_every=2)
    Trainer(good, train, workdir=str(tmp_path)).run(progress=False)
    bad = _cfg("lapo", num_steps=40, save_every=2, log_every=10, learning_rate=1e6)
    bad.warmup_steps = 0
    with pytest.raises(NonFiniteError, match=r"at step (\d+)"):
        Trainer(bad, train, workdir=str(tmp_path / "bad")).run(progress=False)
    ckpt = Checkpointer(str(tmp_path / "bad" / "checkpoints"))
    for step in ckpt.manager.all_steps():  # whatever was saved is finite
        restored = ckpt.manager.restore(step)
        assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(restored["state"])
                   if np.issubdtype(np.asarray(x).dtype, np.floating))
    ckpt.close()
    # A checkpoint that does hold NaN is refused on restore, naming it.
    ckpt = Checkpointer(str(tmp_path / "nan"))
    ckpt.save(1, {"w": np.full(3, np.nan, np.float32)})
    ckpt.manager.wait_until_finished()
    with pytest.raises(NonFiniteError, match="step 1"):
        ckpt.restore(1, {"w": np.zeros(3, np.float32)})


@pytest.mark.parametrize("key,value,match", [
    ("save_every", 0, "save_every must be > 0"), ("learning_rate", -1.0, "learning_rate must be > 0"),
    ("seed", -1, "seed must be >= 0"), ("batch_size", 0, "batch_size must be > 0")])
def test_bad_values_are_rejected_before_compiling(episodes, key, value, match):
    train, _ = episodes
    with pytest.raises(ValueError, match=match):
        Trainer(_cfg("lapo", **{key: value}), train)


def test_bad_data_settings_are_rejected(tmp_path):
    cfg = common.override(laom_labels.get_config("smoke"), ["data.labeled_trajectories=0"])
    cfg.workdir = str(tmp_path)
    with pytest.raises(ValueError, match="labeled_trajectories must be > 0"):
        pretrain.run(cfg, progress=False)
    cfg = common.override(lapo.get_config("smoke"), ["data.synthetic_episodes=0"])
    cfg.workdir = str(tmp_path)
    with pytest.raises(ValueError, match="synthetic_episodes must be >= 1"):
        pretrain.run(cfg, progress=False)
    cfg = lapo.get_config("smoke")
    cfg.workdir, cfg.data.path = str(tmp_path), str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pretrain.run(cfg, progress=False)


def test_supervised_idm_probe_beats_chance(tmp_path):
    cfg = _cfg("idm", num_steps=800, batch_size=32, log_every=100, learning_rate=1e-3)
    cfg.data.update(synthetic_episodes=32, synthetic_length=48, image_size=32, labeled_trajectories=32)
    cfg.workdir = str(tmp_path)
    report = pretrain.run(cfg, progress=False)
    probe = report["held_out"]["latent_action_probe"]
    assert probe["mse"] < 0.5 * probe["chance_mse"], probe
    assert report["held_out"]["eval_action_mse"] < 0.5 * 2 * probe["chance_mse"]  # summed over 2 dims


def test_pretrain_stage_writes_report_and_checkpoints(tmp_path):
    cfg = common.override(lapo.get_config("smoke"), ["num_steps=8", "log_every=4", "save_every=4", "data.image_size=32",
                                                     "data.synthetic_length=16"])
    cfg.workdir = str(tmp_path)
    report = pretrain.run(cfg, progress=False)
    assert report["held_out"]["latent_action_probe"]["mse"] > 0
    assert len(report["held_out"]["latent_action_probe"]["mse_per_dim"]) == 2
    assert report["paper_metric"]["step"] == 8 and report["paper_metric"]["online_latent_action_probe_mse"] > 0
    for name in ("report.json", "metrics.jsonl", "config.json", "model_spec.json", "checkpoints"):
        assert os.path.exists(tmp_path / name), name
    with pytest.raises(ValueError, match="workdir"):
        pretrain.run(lapo.get_config("smoke"))


def test_streaming_trains_and_resumes_exactly(episodes, tmp_path):
    train, labeled = episodes
    cfg = _cfg("laom_labels", num_steps=40, log_every=10, save_every=20)
    cfg.data.update(streaming=True, buffer_episodes=4, buffer_steps=7)
    straight = Trainer(cfg, train, labeled, workdir=str(tmp_path / "a"))
    assert straight.data is None  # nothing placed on device up front
    straight.run(progress=False)
    rows = read_jsonl(str(tmp_path / "a" / "metrics.jsonl"))
    assert rows[-1]["loss"] < rows[0]["loss"]
    Trainer(cfg, train, labeled, workdir=str(tmp_path / "b")).run(num_steps=20, progress=False)
    resumed = Trainer(cfg, train, labeled, workdir=str(tmp_path / "b"))
    resumed.run(progress=False)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7),
                 jax.device_get(straight.state), jax.device_get(resumed.state))


def test_bfloat16_training_runs(episodes):
    train, labeled = episodes
    cfg = _cfg("laom", num_steps=3, log_every=1)
    cfg.model.dtype = "bfloat16"
    assert np.isfinite(Trainer(cfg, train, labeled).run(progress=False)["loss"])


def test_bad_training_inputs_give_clear_errors(episodes):
    train, _ = episodes
    with pytest.raises(ValueError, match="no labeled episodes"):
        Trainer(_cfg("laom_labels"), train, None)
    with pytest.raises(ValueError, match="too short"):
        Trainer(_cfg("lapo", max_offset=30), train)
    with pytest.raises(ValueError, match="model.dtype"):
        bad = _cfg("lapo")
        bad.model.dtype = "float16"
        Trainer(bad, train)


def test_label_head_gets_its_own_rate_under_the_models_schedule():
    """label_head_learning_rate > 0: LAOM+sup's head z -> a steps at that peak rate (warm-up and decay
    as the model's); 0 keeps one model group, as the reference."""
    from lam_jax.training import train_lam
    cfg = _cfg("laom_labels", num_steps=10, warmup_steps=2, learning_rate=1e-4, label_head_learning_rate=1e-2)
    model = train_lam.lams.make_model(cfg.model, image_size=32, frame_stack=cfg.frame_stack, action_dim=6,
                                      state_dim=17)
    params = nnx.state(model, train_lam.trainable())
    groups = jax.tree_util.tree_leaves_with_path(train_lam._param_groups(params, label_head=True))
    named = {jax.tree_util.keystr(p): g for p, g in groups}
    assert {g for k, g in named.items() if "true_action_head" in k} == {"label_head"}
    assert {g for k, g in named.items() if "probes" in k} == {"probe"}
    assert {g for k, g in named.items() if "idm_head" in k} == {"model"}
    ones = jax.tree.map(jax.numpy.ones_like, params)
    for rate, head_step in ((1e-2, 1e-2 / 2), (0.0, 1e-4 / 2)):  # step 1 of a 2-step warm-up: half the peak
        cfg.label_head_learning_rate = rate
        tx = train_lam.make_optimizer(cfg, 10, 2)
        state = tx.init(params)
        _, state = tx.update(ones, state, params)
        updates, _ = tx.update(ones, state, params)
        moved = {jax.tree_util.keystr(p): float(np.abs(u).max()) for p, u in jax.tree_util.tree_leaves_with_path(updates)}
        head = [v for k, v in moved.items() if "true_action_head" in k]
        body = [v for k, v in moved.items() if "idm_head" in k]
        np.testing.assert_allclose(head, head_step, rtol=1e-3)
        np.testing.assert_allclose(body, 1e-4 / 2, rtol=1e-3)


def test_one_writer_per_workdir(episodes, tmp_path):
    """A second training in a live run's workdir stops at once naming the holder; once the holder has
    finished (or died: the kernel drops its lock) the workdir takes a new run."""
    from lam_jax.training import run_dir
    train, labeled = episodes
    cfg = _cfg("lapo", num_steps=2, log_every=1, save_every=100)
    held = run_dir.lock(str(tmp_path))  # another live process, as far as flock is concerned
    with pytest.raises(run_dir.FolderBusyError, match=rf"another process \(pid {os.getpid()} on \S+\) is writing"):
        Trainer(cfg, train, labeled, workdir=str(tmp_path)).run(progress=False)
    assert not (tmp_path / "config.json").exists()
    held.close()
    Trainer(cfg, train, labeled, workdir=str(tmp_path)).run(progress=False)
    Trainer(cfg, train, labeled, workdir=str(tmp_path)).run(progress=False)  # released after its run
    assert (tmp_path / "config.json").exists()
