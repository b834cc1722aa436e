"""Damaged checkpoints and failed saves: one clear line naming the step, resume from the newest
intact checkpoint (unless told not to), and a failed save reported at the save that failed."""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from configs import common, lapo
from lam_jax.training.checkpoint import ACCEPT_UNVERIFIED, FINGERPRINT_FILE, Checkpointer, DamagedCheckpointError
from lam_jax.training.loop import TIMING_KEYS
from lam_jax.data.episodes import synthetic_episodes
from lam_jax.training.train_lam import Trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cfg(workdir, steps):
    cfg = common.override(lapo.get_config("smoke"), ["num_steps=12", "log_every=4", "save_every=4",
                                                     "data.image_size=32", "data.synthetic_length=24"])
    cfg.workdir, cfg.stop_at = str(workdir), steps
    return cfg


def _train(cfg, episodes):
    return Trainer(cfg, episodes, workdir=cfg.workdir).run(progress=False)


def _damage(step_dir, how):
    data = max(glob.glob(os.path.join(step_dir, "default", "**", "d", "*"), recursive=True), key=os.path.getsize)
    if how == "truncated data":
        with open(data, "r+b") as f:
            f.truncate(os.path.getsize(data) // 3)
    elif how == "corrupt data":
        with open(data, "r+b") as f:
            f.seek(os.path.getsize(data) // 2)
            f.write(os.urandom(64))
    elif how == "broken metadata":  # not JSON
        with open(os.path.join(step_dir, "default", "_METADATA"), "w") as f:
            f.write("{not json")
    elif how == "no fingerprint":  # an older lam-jax's, or a save cut short before it
        os.remove(os.path.join(step_dir, FINGERPRINT_FILE))
    else:  # an empty or garbage fingerprint file
        with open(os.path.join(step_dir, FINGERPRINT_FILE), "w") as f:
            f.write("" if how == "empty fingerprint" else "{garbage")


@pytest.mark.parametrize("how", ["truncated data", "corrupt data", "broken metadata", "no fingerprint",
                                 "empty fingerprint", "garbage fingerprint"])
def test_a_damaged_checkpoint_is_named_and_resume_falls_back(tmp_path, capfd, how):
    episodes = synthetic_episodes(4, 24, image_size=32)
    _train(_cfg(tmp_path, 8), episodes)  # checkpoints 4 and 8
    _damage(str(tmp_path / "checkpoints" / "8"), how)
    strict = _cfg(tmp_path, 12)
    strict.resume_fallback = False
    with pytest.raises(DamagedCheckpointError, match=r"the checkpoint of step 8 in .*checkpoints/8 cannot be (read|trusted)"):
        _train(strict, episodes)
    _train(_cfg(tmp_path, 12), episodes)
    err = capfd.readouterr().err
    assert "checkpoint of step 8" in err and "resuming from the previous checkpoint, step 4" in err
    assert "Traceback" not in err and "Event loop is closed" not in err  # orbax's own reports go to its log
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["12", "8"]  # 8 written again by the resumed run
    assert os.listdir(tmp_path / "checkpoints_damaged") == ["8"]
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [4, 8, 12]  # the lost steps were trained again, nothing logged twice
    # The fallback gives the same training as a run that never had the damaged checkpoint.
    clean = tmp_path / "clean"
    _train(_cfg(clean, 4), episodes)
    _train(_cfg(clean, 12), episodes)
    expected = json.loads((clean / "metrics.jsonl").read_text().splitlines()[-1])
    for row in (expected, rows[-1]):
        for key in TIMING_KEYS:
            row.pop(key, None)
    assert rows[-1] == expected


def test_unverified_and_non_finite_checkpoints(tmp_path, monkeypatch):
    """A checkpoint without a fingerprint is refused with the way to accept it; one holding NaN is
    damaged (resume falls back past it), whether or not it has a fingerprint."""
    ckpt = Checkpointer(str(tmp_path))
    ckpt.save(1, {"w": np.ones(3, np.float32)})
    ckpt.save(2, {"w": np.full(3, np.nan, np.float32)})
    os.remove(tmp_path / "1" / FINGERPRINT_FILE)
    like = {"w": np.zeros(3, np.float32)}
    with pytest.raises(DamagedCheckpointError, match=f"step 1 .* no {FINGERPRINT_FILE} .* {ACCEPT_UNVERIFIED}=1"):
        ckpt.restore(1, like)
    monkeypatch.setenv(ACCEPT_UNVERIFIED, "1")
    np.testing.assert_array_equal(ckpt.restore(1, like)["w"], 1.0)
    for fingerprinted in (True, False):
        if not fingerprinted:
            os.remove(tmp_path / "2" / FINGERPRINT_FILE)
        with pytest.raises(DamagedCheckpointError, match="step 2 .* NaN or Inf"):
            ckpt.restore(2, like)
    ckpt.close()


FULL_DISK = """
from experiments import runtime
runtime.setup()  # as every entry point does
import resource, signal
from configs import common, lapo
from lam_jax.data.episodes import synthetic_episodes
from lam_jax.training.train_lam import Trainer
cfg = common.override(lapo.get_config("smoke"), ["num_steps=12", "log_every=4", "save_every=4", "data.image_size=32",
                                                 "data.synthetic_length=24"])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes beyond the limit fail (EFBIG) as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))
Trainer(cfg, synthetic_episodes(4, 24, image_size=32), workdir={workdir!r}).run(progress=False)
"""


def test_a_failed_save_is_reported_at_its_step_in_one_line(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=1",
               LAM_JAX_COMPILE_CACHE="0")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", FULL_DISK.format(workdir=str(tmp_path / "run"))], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    # orbax's threads' reports of the same failure go to a log file; TensorBoard's writer thread, which
    # hits the same limit, says so once
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and len(lines) <= 2, out.stderr[-3000:]
    assert all(line.startswith("warning: TensorBoard events not written") for line in lines if line not in errors)
    assert errors[0].startswith("error: saving the checkpoint of step 4 to") and "File too large" in errors[0]
    assert os.path.isfile(errors[0].split("(orbax's log: ")[1].rstrip(")"))
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [4]  # training stopped at the save that failed, not a save later
    assert np.isfinite(rows[0]["loss"])


def test_keep_every_keeps_those_checkpoints_beyond_the_newest(tmp_path):
    import jax.numpy as jnp

    from lam_jax.training.checkpoint import Checkpointer
    ckpt = Checkpointer(str(tmp_path / "checkpoints"), max_to_keep=1, keep_every=4)
    for step in (2, 4, 6, 8, 10):
        ckpt.save(step, {"x": jnp.full((3,), step, jnp.float32)})
    assert sorted(ckpt.manager.all_steps()) == [4, 8, 10]
    assert float(ckpt.restore(4, {"x": jnp.zeros((3,), jnp.float32)})["x"][0]) == 4.0
    ckpt.close()
