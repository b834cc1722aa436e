"""SIGINT and SIGTERM (a scheduler's preemption notice) stop pretraining after the step in flight,
with a checkpoint of it and one line on stderr; the same command resumes from there."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_the_current_step_and_the_command_resumes(tmp_path, signum):
    workdir = tmp_path / "run"
    cmd = [sys.executable, "-m", "experiments.pretrain", "--config=configs/lapo.py:smoke",
           f"--config.workdir={workdir}", "--config.num_steps=100000", "--config.log_every=2",
           "--config.save_every=100000", "--config.data.synthetic_length=24", "--config.data.image_size=32"]
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=1")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = workdir / "metrics.jsonl"
    deadline = time.time() + 300
    while not (metrics.exists() and metrics.read_text().count("\n") >= 2) and time.time() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.2)
    sent = time.time()
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert time.time() - sent < 20
    assert proc.returncode != 0
    last = stderr.strip().splitlines()[-1]
    name = signal.Signals(signum).name
    assert last.startswith(f"interrupted: train lapo: stopped by {name} at step ")
    assert "the same command resumes" in last
    assert "Traceback" not in stderr
    step = int(last.split(" at step ")[1].split()[0])
    assert os.listdir(workdir / "checkpoints") == [str(step)]
    # The same command (stopping a few steps later) resumes from that step.
    resumed = subprocess.run(cmd + [f"--config.stop_at={step + 4}"], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    steps = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == step + 4  # no step logged twice, none lost
