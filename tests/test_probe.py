import jax
import numpy as np
import pytest

from configs import common, laom_labels, lapo
from data_pipeline.make_dataset import build_dataset
from lam_jax.evaluation import ridge
from lam_jax.evaluation.held_out import transition_sums
from lam_jax.data.episodes import DatasetEpisodes
from lam_jax.training.restore import load_lam
from lam_jax.stages import pretrain
from lam_jax.stages import probe as probe_stage


def test_ridge_from_moments_matches_direct_regression():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6)) * [1, 10, 0.1, 1, 1, 3] + 5
    w = rng.normal(size=(6, 2))
    y = x @ w + 1.5 + 0.01 * rng.normal(size=(500, 2))
    result = ridge.probe_mse(x[:400], y[:400], x[400:], y[400:], l2=1e-8)
    fitted = ridge.solve_ridge(ridge.moments(x[:400], y[:400]), 1e-8)
    direct = np.square(ridge.predict(fitted, x[400:]) - y[400:]).mean(0)
    np.testing.assert_allclose(result["mse_per_dim"], direct, rtol=1e-4, atol=1e-9)
    assert result["mse"] < 1e-3 < result["chance_mse"]
    # Unrelated targets: no better than chance.
    noise = rng.normal(size=(500, 2))
    r = ridge.probe_mse(x[:400], noise[:400], x[400:], noise[400:])
    assert r["mse"] > 0.9 * r["chance_mse"]


def test_weighted_moments_ignore_padding():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 2))
    padded = ridge.moments(np.concatenate([x, 7 * np.ones((3, 3))]), np.concatenate([y, np.ones((3, 2))]),
                           np.r_[np.ones(10), np.zeros(3)])
    for k, v in ridge.moments(x, y).items():
        np.testing.assert_allclose(padded[k], v, rtol=1e-12, err_msg=k)


def test_probe_stage_on_a_trained_lam(collect_config, tmp_path):
    dataset = build_dataset(collect_config)
    cfg = common.override(laom_labels.get_config("smoke"), ["num_steps=4", "log_every=2", "save_every=2"])
    cfg.data.path, cfg.workdir = dataset, str(tmp_path / "laom")
    report = pretrain.run(cfg, progress=False)
    held = report["held_out"]
    assert len(held["embedding_state_probe"]["mse_per_dim"]) == 17 and held["eval_action_mse"] > 0
    stage = probe_stage.run(cfg.workdir, progress=False)
    assert len(stage["latent_action_probe"]["mse_per_dim"]) == 6
    # The stage's probe on the restored model agrees with the one computed right after training.
    np.testing.assert_allclose(stage["latent_action_probe"]["mse"], held["latent_action_probe"]["mse"], rtol=1e-4)
    np.testing.assert_allclose(stage["eval_action_mse"], held["eval_action_mse"], rtol=1e-4)
    assert (tmp_path / "laom" / "probe_report.json").exists()
    # Sums over many small sharded batches (padded) equal those over one large batch.
    _, model, spec = load_lam(cfg.workdir)
    src = DatasetEpisodes(dataset, "eval")
    small = transition_sums(model, src, 3, True, batch_size=12, progress=False)
    large = transition_sums(model, src, 3, True, batch_size=4096, progress=False)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-3, atol=1e-3), small, large)
    # The targets are the dataset's raw PPO outputs ('reference' actions), not the clipped ones.
    assert np.abs(src.load([0]).actions).max() > 1


def test_missing_runs_and_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a pretraining run"):
        load_lam(str(tmp_path))
    (tmp_path / "config.json").write_text(lapo.get_config("smoke").to_json())
    (tmp_path / "model_spec.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_lam(str(tmp_path))
