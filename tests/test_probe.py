import numpy as np
import pytest

from configs import lapo
from data_pipeline.make_dataset import build_dataset
from lam_jax import probe
from lam_jax.restore import load_lam
from lam_jax.stages import pretrain
from lam_jax.stages import probe as probe_stage


def test_ridge_from_moments_matches_direct_regression():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6)) * [1, 10, 0.1, 1, 1, 3] + 5
    w = rng.normal(size=(6, 2))
    y = x @ w + 1.5 + 0.01 * rng.normal(size=(500, 2))
    result = probe.probe_mse(x[:400], y[:400], x[400:], y[400:], l2=1e-8)
    fitted = probe.solve_ridge(probe.moments(x[:400], y[:400]), 1e-8)
    direct = np.square(probe.predict(fitted, x[400:]) - y[400:]).mean(0)
    np.testing.assert_allclose(result["mse_per_dim"], direct, rtol=1e-4, atol=1e-9)
    assert result["mse"] < 1e-3 < result["chance_mse"]
    # Unrelated targets: no better than chance.
    noise = rng.normal(size=(500, 2))
    r = probe.probe_mse(x[:400], noise[:400], x[400:], noise[400:])
    assert r["mse"] > 0.9 * r["chance_mse"]


def test_weighted_moments_ignore_padding():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 2))
    padded = probe.moments(np.concatenate([x, 7 * np.ones((3, 3))]), np.concatenate([y, np.ones((3, 2))]),
                           np.r_[np.ones(10), np.zeros(3)])
    for k, v in probe.moments(x, y).items():
        np.testing.assert_allclose(padded[k], v, rtol=1e-12, err_msg=k)


def test_probe_stage_on_a_trained_lam(collect_config, tmp_path):
    dataset = build_dataset(collect_config)
    cfg = lapo.get_config("smoke,num_steps=4,log_every=2,save_every=2")
    cfg.data.path, cfg.workdir = dataset, str(tmp_path / "lapo")
    report = pretrain.run(cfg, progress=False)
    assert len(report["embedding_state_probe"]["mse_per_dim"]) == 17
    four = probe_stage.run(cfg.workdir, num_devices=4)
    one = probe_stage.run(cfg.workdir, num_devices=1, out=str(tmp_path / "one.json"))
    assert len(four["latent_to_action"]["mse_per_dim"]) == 6 and len(four["embedding_to_state"]["mse_per_dim"]) == 17
    np.testing.assert_allclose(four["latent_to_action"]["mse_per_dim"], one["latent_to_action"]["mse_per_dim"],
                               rtol=1e-3)
    # The stage's probe on the restored model agrees with the one computed right after training.
    np.testing.assert_allclose(four["latent_to_action"]["mse"], report["latent_action_probe"]["mse"], rtol=1e-3)
    assert (tmp_path / "lapo" / "probe_report.json").exists()


def test_missing_runs_and_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a pretraining run"):
        load_lam(str(tmp_path))
    (tmp_path / "config.json").write_text(lapo.get_config("smoke").to_json())
    (tmp_path / "model_spec.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_lam(str(tmp_path))
