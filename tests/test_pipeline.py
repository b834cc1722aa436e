import json
import os

import numpy as np
import pytest

from configs import downstream as downstream_configs
from experiments import downstream as downstream_main
from experiments import sweep
from lam_jax.stages import downstream


def _flags(tmp_path):
    return ["--variant", "smoke", "--num_train", "2", "--num_eval", "1", "--num_steps_env", "40",
            "--workers", "1", "--data_dir", str(tmp_path / "data"), "--out", str(tmp_path / "out"),
            "--set", "num_steps=6", "--downstream", "eval_max_steps=25", "--downstream", "eval_episodes=2"]


def test_sweep_runs_every_stage_and_resumes(tmp_path):
    path = sweep.main(["--methods", "laom_labels,idm,bc", "--labeled", "2", *_flags(tmp_path)])
    summaries = json.loads((tmp_path / "out" / "summaries.json").read_text())
    assert [s["method"] for s in summaries] == ["laom_labels", "idm", "bc"]
    for s in summaries:
        ev = s["eval"]
        assert len(ev["returns"]) == 2 and all(np.isfinite(ev["returns"]))
        assert ev["env"]["split"] == "eval" and ev["reference_return"] > 0
        run_dir = tmp_path / "out" / "cheetah-run" / s["method"] / "k2_s0"
        assert (run_dir / "actor" / "checkpoints").is_dir()
        assert (run_dir / "decoder").is_dir() == (s["method"] == "laom_labels")
        assert (run_dir / "lam").is_dir() == (s["method"] != "bc")
    assert summaries[0]["latent_action_probe"]["mse"] > 0
    report = open(path).read()
    assert "| cheetah-run | bc | 2 | 1 |" in report and os.path.getsize(tmp_path / "out" / "returns.png") > 1000
    # Each stage also runs on its own, handing off through the checkpoints above.
    run_dir = tmp_path / "out" / "cheetah-run" / "laom_labels" / "k2_s0"
    downstream_main.main(["decoder", "--config", "smoke,decoder_steps=5", "--lam", str(run_dir / "lam"),
                          "--out", str(tmp_path / "dec2"), "--labeled", "2"])
    result = downstream_main.main(["evaluate", "--config", "smoke,eval_max_steps=10,eval_episodes=1",
                                   "--actor", str(run_dir / "actor"), "--decoder", str(tmp_path / "dec2"),
                                   "--lam", str(run_dir / "lam")])
    assert len(result["returns"]) == 1 and result["env"]["split"] == "eval"
    # A second sweep finds every summary and trains nothing.
    mtime = os.path.getmtime(tmp_path / "out" / "cheetah-run" / "bc" / "k2_s0" / "summary.json")
    sweep.main(["--methods", "bc", "--labeled", "2", *_flags(tmp_path)])
    assert os.path.getmtime(tmp_path / "out" / "cheetah-run" / "bc" / "k2_s0" / "summary.json") == mtime


def test_downstream_errors_are_clear(tmp_path):
    dcfg = downstream_configs.get_config("smoke")
    (tmp_path / "actor").mkdir()
    (tmp_path / "actor" / "spec.json").write_text(json.dumps({"out_dim": 6, "frame_stack": 3}))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        downstream.load_policy(str(tmp_path / "actor"), None, dcfg)
    with pytest.raises(FileNotFoundError, match="not a pretraining run"):
        downstream.train_bc(dcfg, str(tmp_path / "nolam"), None, str(tmp_path / "bc"))
    with pytest.raises(KeyError, match="unknown config key"):
        downstream_configs.get_config("smoke,bc_stepz=3")
    with pytest.raises(ValueError, match="unknown variant"):
        downstream_configs.get_config("giant")
