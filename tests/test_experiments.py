import json
import os
import sys

import pytest

from experiments import compare_lam


def test_compare_lam_end_to_end_writes_report(tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", [
        "compare_lam", "--out", str(out), "--methods", "lapo,laom_labels", "--variant", "smoke",
        "--num_train", "2", "--num_eval", "1", "--num_steps_env", "40", "--workers", "1",
        "--data_dir", str(tmp_path / "data"), "--set", "num_steps=6", "--set", "log_every=3",
        "--set", "labeled_trajectories=2"])
    compare_lam.main()
    results = json.loads((out / "results.json").read_text())["results"]
    assert set(results) == {"lapo", "laom_labels"}
    for r in results.values():
        probe = r["latent_action_probe"]
        assert probe["mse"] > 0 and probe["chance_mse"] > 0 and len(probe["mse_per_dim"]) == 6
    report = (out / "report.md").read_text()
    assert "| lapo |" in report and "| laom_labels |" in report
    assert os.path.getsize(out / "probe_mse.png") > 1000 and os.path.getsize(out / "curves.png") > 1000


def test_unknown_method_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown method"):
        compare_lam.method_config("vqvae", "smoke", "", str(tmp_path))
