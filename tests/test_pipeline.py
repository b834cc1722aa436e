import json
import os

import numpy as np
import pytest

from configs import common, downstream as downstream_configs
from data_pipeline import rlds_dataset
from data_pipeline.make_dataset import build_dataset
from experiments import pipeline_run
from lam_jax.data import sampling
from lam_jax.devices import sharding
from lam_jax.stages import downstream
from lam_jax.training import checkpoint


def test_pipeline_runs_every_stage_and_resumes(collect_config, tmp_path, monkeypatch):
    dataset = build_dataset(collect_config)
    lam_set = ("num_steps=4", "log_every=2", "save_every=2")
    pipes = [pipeline_run.PipelineRun(m, dataset, 2, 0, "smoke", str(tmp_path / "out"), lam_set)
             for m in ("laom_labels", "bc")]
    # Stages hand on in memory: one dataset handle per pipeline, no checkpoint read back, and each of
    # the training split, the LAM's labeled batch and the decoder's labeled data decoded once, when
    # placed on the devices (rows padded to the 4 devices: the held-out probes and BC decode none).
    opened, decoded, restored = [], [], []
    init, episode = rlds_dataset.TrajectoryDataset.__init__, rlds_dataset.TrajectoryDataset.episode
    restore = checkpoint.Checkpointer.restore
    monkeypatch.setattr(rlds_dataset.TrajectoryDataset, "__init__", lambda self, *a: opened.append(a) or init(self, *a))
    monkeypatch.setattr(rlds_dataset.TrajectoryDataset, "episode", lambda self, split, i: decoded.append(split)
                        or episode(self, split, i))
    monkeypatch.setattr(checkpoint.Checkpointer, "restore", lambda self, *a: restored.append(a) or restore(self, *a))
    for pipe in pipes:
        opened.clear(), decoded.clear()
        s = pipeline_run.run(pipe, progress=False)
        assert len(opened) == 1 and restored == [], (pipe.method, opened, restored)
        rows = len(sampling.episode_rows(pipe.train.num_episodes, sharding.make_mesh(0)))
        assert decoded.count("train") <= 3 * rows, (pipe.method, decoded.count("train"))
        ev = s["eval"]
        assert len(ev["returns"]) == 1 and np.isfinite(ev["returns"]).all() and ev["env"]["split"] == "train"
        assert ev["normalized_return"] == pytest.approx(ev["mean_return"] / 823.0)  # the paper's normaliser
        run_dir = tmp_path / "out" / "cheetah-run" / pipe.method / "k2_s0"
        assert (run_dir / "actor" / "checkpoints").is_dir()
        assert (run_dir / "decoder").is_dir() == (pipe.method == "laom_labels")
        assert (run_dir / "lam").is_dir() == (pipe.method != "bc")
        # every stage's metrics in TensorBoard too: training curves, held-out probes, evaluation returns
        stages = ["actor", "eval"] + (["lam", "lam/probe", "decoder"] if pipe.method != "bc" else [])
        for stage in stages:
            assert os.listdir(run_dir / stage / "tensorboard"), stage
    lam = json.loads((tmp_path / "out" / "cheetah-run" / "laom_labels" / "k2_s0" / "summary.json").read_text())["lam"]
    assert lam["held_out"]["eval_action_mse"] > 0 and lam["paper_metric"]["step"] == 4
    # The decoder trains on the frozen actor's outputs: its input size is the actor's output size.
    arch = downstream.load_arch(str(tmp_path / "out" / "cheetah-run" / "laom_labels" / "k2_s0" / "decoder"))
    assert arch["latent_dim"] == 32 and arch["action_dim"] == 6
    # A second run finds the summary and trains nothing.
    path = tmp_path / "out" / "cheetah-run" / "bc" / "k2_s0" / "summary.json"
    mtime = os.path.getmtime(path)
    pipeline_run.run(pipes[1], progress=False)
    assert os.path.getmtime(path) == mtime


def test_downstream_errors_are_clear(tmp_path):
    (tmp_path / "actor").mkdir()
    (tmp_path / "actor" / "spec.json").write_text(json.dumps({"frame_stack": 3, "out_dim": 6, "encoder_scale": 0.5,
                                                              "num_res_blocks": 1, "dtype": "float32"}))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        downstream.load_policy(str(tmp_path / "actor"))
    with pytest.raises(FileNotFoundError, match="not a pretraining run"):
        downstream.train_bc(downstream_configs.get_config("smoke"), str(tmp_path / "nolam"), None, str(tmp_path / "bc"))
    with pytest.raises(KeyError, match="unknown config key"):
        common.override(downstream_configs.get_config("smoke"), ["bc.stepz=3"])
    with pytest.raises(ValueError, match="unknown variant"):
        downstream_configs.get_config("giant")
    with pytest.raises(ValueError, match="unknown method"):
        pipeline_run.run(pipeline_run.PipelineRun("vqvae", "", 2))


def test_policy_is_evaluated_in_float32_whatever_it_trained_in(tmp_path, monkeypatch):
    """The reference evaluates its actor and decoder outside autocast: a bf16-trained policy runs in float32."""
    import jax.numpy as jnp
    from flax import nnx

    from lam_jax.models.policy_nets import ActionDecoder, Actor

    spec = {"frame_stack": 1, "out_dim": 8, "encoder_scale": 0.5, "num_res_blocks": 1, "dtype": "bfloat16", "seed": 3}
    for name, content in (("actor", spec), ("decoder", {"latent_dim": 8, "action_dim": 2, "hidden_dim": 16,
                                                         "dtype": "bfloat16", "seed": 3})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "spec.json").write_text(json.dumps(content))
    monkeypatch.setattr(downstream, "load_fitted", lambda workdir, module: module)  # the initial weights
    policy, frame_stack = downstream.load_policy(str(tmp_path / "actor"), str(tmp_path / "decoder"))
    obs = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)

    def reference(dtype):
        actor = Actor(1, 8, 0.5, 1, dtype=dtype, rngs=nnx.Rngs(3))
        return np.asarray(ActionDecoder(8, 2, 16, dtype=dtype, rngs=nnx.Rngs(4))(actor(obs)))

    assert frame_stack == 1
    np.testing.assert_allclose(policy(obs), reference(jnp.float32), rtol=1e-5, atol=1e-6)
    assert not np.allclose(policy(obs), reference(jnp.bfloat16), rtol=1e-5, atol=1e-6)
