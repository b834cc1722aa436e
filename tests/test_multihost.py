"""2 processes through jax.distributed on 127.0.0.1 against one process with as many devices: 2 x 2
CPU devices against 1 x 4 (save, resume), and 2 x 1 (one device per process, a GPU cluster's
usual layout) against 1 x 2."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from flax import nnx

from lam_jax.training.restore import load_lam

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = ["--config=configs/laom_labels.py:smoke", "--config.save_every=5", "--config.log_every=5",
          "--config.data.synthetic_length=24", "--config.data.image_size=32"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(devices: int) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def _pretrain(workdir, processes: int, stop_at: int = 0, devices: int = 4):
    """``devices`` in all, over ``processes`` processes."""
    args = [sys.executable, "-m", "experiments.pretrain", *CONFIG, f"--config.workdir={workdir}",
            "--config.num_steps=10", f"--config.stop_at={stop_at}"]
    if processes == 1:
        out = subprocess.run(args, cwd=REPO, env=_env(devices), capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        return [out]
    port = _free_port()
    dist = ["--config.distributed.enabled=True", f"--config.distributed.coordinator_address=127.0.0.1:{port}",
            f"--config.distributed.num_processes={processes}"]
    procs = [subprocess.Popen(args + dist + [f"--config.distributed.process_id={i}"], cwd=REPO,
                              env=_env(devices // processes),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(processes)]
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr[-3000:]
        outs.append(subprocess.CompletedProcess(p.args, 0, stdout, stderr))
    return outs


def _params(workdir):
    return jax.device_get(nnx.state(load_lam(str(workdir))[1], nnx.Param))


@pytest.mark.slow
def test_two_processes_train_save_resume_like_one_process_with_four_devices(tmp_path):
    single = _pretrain(tmp_path / "single", 1)[0]
    reference = json.loads(single.stdout)
    # Two hosts: stop after step 5 (a checkpoint), then resume to step 10 in a new launch.
    _pretrain(tmp_path / "multi", 2, stop_at=5)
    outs = _pretrain(tmp_path / "multi", 2)
    report = json.loads(outs[0].stdout)  # process 0's stdout is exactly the JSON report
    assert outs[1].stdout.strip() == ""  # the other process prints nothing there
    assert report["num_steps"] == 10 and sorted(os.listdir(tmp_path / "multi" / "checkpoints")) == ["10", "5"]
    assert not [n for n in os.listdir(tmp_path / "multi" / "checkpoints") if "tmp" in n]
    np.testing.assert_allclose(report["final_metrics"]["loss"], reference["final_metrics"]["loss"], rtol=1e-4)
    np.testing.assert_allclose(report["held_out"]["latent_action_probe"]["mse"],
                               reference["held_out"]["latent_action_probe"]["mse"], rtol=1e-3)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
                 _params(tmp_path / "single"), _params(tmp_path / "multi"))


@pytest.mark.slow
def test_one_device_per_process_trains_and_saves_like_one_process(tmp_path):
    reference = json.loads(_pretrain(tmp_path / "single", 1, devices=2)[0].stdout)
    outs = _pretrain(tmp_path / "multi", 2, devices=2)  # saves at step 5 and 10
    report = json.loads(outs[0].stdout)
    assert sorted(os.listdir(tmp_path / "multi" / "checkpoints")) == ["10", "5"]
    np.testing.assert_allclose(report["final_metrics"]["loss"], reference["final_metrics"]["loss"], rtol=1e-4)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
                 _params(tmp_path / "single"), _params(tmp_path / "multi"))


def _endless_two_process_run(workdir, *extra):
    """2 processes x 1 device training LAPO with no end in sight, returned once 2 steps are logged."""
    args = [sys.executable, "-m", "experiments.pretrain", "--config=configs/lapo.py:smoke", "--config.log_every=2",
            "--config.save_every=100000", "--config.num_steps=100000", "--config.data.synthetic_length=24",
            "--config.data.image_size=32", f"--config.workdir={workdir}", "--config.distributed.enabled=True",
            f"--config.distributed.coordinator_address=127.0.0.1:{_free_port()}",
            "--config.distributed.num_processes=2", *extra]
    procs = [subprocess.Popen(args + [f"--config.distributed.process_id={i}"], cwd=REPO, env=_env(1),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    metrics = workdir / "metrics.jsonl"
    deadline = time.time() + 300
    while not (metrics.exists() and metrics.read_text().count("\n") >= 2) and time.time() < deadline:
        time.sleep(0.2)
    return procs


@pytest.mark.slow
def test_sigterm_to_one_process_stops_both_at_one_step_with_a_checkpoint(tmp_path):
    workdir = tmp_path / "run"
    procs = _endless_two_process_run(workdir)
    procs[1].send_signal(signal.SIGTERM)  # the scheduler's notice reaches one process first
    lines = [p.communicate(timeout=120)[1].strip().splitlines()[-1] for p in procs]
    assert lines[0] == lines[1] and "stopped by SIGTERM at step" in lines[0], lines
    step = lines[0].split(" at step ")[1].split()[0]
    assert os.listdir(workdir / "checkpoints") == [step]


@pytest.mark.slow
@pytest.mark.parametrize("victim", [0, 1])  # the coordinator, a worker
def test_a_dead_peer_stops_the_other_process_with_one_line(tmp_path, victim):
    procs = _endless_two_process_run(tmp_path / "run", "--config.distributed.heartbeat_timeout=10")
    procs[victim].kill()
    killed = time.time()
    survivor = procs[1 - victim]
    _, stderr = survivor.communicate(timeout=180)
    procs[victim].communicate()
    assert survivor.returncode != 0
    assert time.time() - killed < 10 + 60  # the heartbeat timeout, and the coordinator's loss is seen at once
    # one line: ours when the step's collective fails (Gloo, at once), or jaxlib's abort condensed by
    # lam_jax.devices.fatal_filter (a collective that hangs, as NCCL's, until the heartbeat timeout)
    last = stderr.strip().splitlines()[-1]
    assert "another process of this multi-host run died" in last, stderr[-3000:]
    for noise in ("Traceback", "Check failure stack trace", "coordination_service"):
        assert noise not in stderr, stderr[-3000:]
    if "jaxlib's report: " in last:
        assert "Check failure stack trace" in open(last.rsplit("jaxlib's report: ", 1)[1].rstrip(")")).read()


def _two_processes(per_process, *extra):
    """2 processes x 1 device of a short LAPO run; ``per_process(i)`` adds each one's own arguments."""
    args = [sys.executable, "-m", "experiments.pretrain", "--config=configs/lapo.py:smoke", "--config.num_steps=4",
            "--config.data.synthetic_length=24", "--config.data.image_size=32", "--config.distributed.enabled=True",
            f"--config.distributed.coordinator_address=127.0.0.1:{_free_port()}",
            "--config.distributed.num_processes=2", *extra]
    procs = [subprocess.Popen(args + [f"--config.distributed.process_id={i}", *per_process(i)], cwd=REPO,
                              env=_env(1), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    return [(p.communicate(timeout=300)[1], p.returncode) for p in procs]


@pytest.mark.slow
def test_an_unshared_workdir_and_a_differing_config_stop_every_process_with_one_line(tmp_path):
    """Each process its own folder (a workdir on local disks), then one folder with two learning rates:
    every process stops before step 1 with the same line naming the cause, and no config.json is left."""
    outs = _two_processes(lambda i: [f"--config.workdir={tmp_path / f'host{i}'}"])
    for stderr, code in outs:
        last = stderr.strip().splitlines()[-1]
        assert code != 0 and last.startswith("error: the workdir is not shared: process 1 cannot see"), stderr[-2000:]
        assert "Traceback" not in stderr
    assert not (tmp_path / "host0" / "config.json").exists()
    outs = _two_processes(lambda i: [f"--config.learning_rate={[1e-3, 3e-3][i]}"], f"--config.workdir={tmp_path / 'one'}")
    for stderr, code in outs:
        last = stderr.strip().splitlines()[-1]
        assert code != 0 and "process 1's config differs from process 0's in learning_rate (0.003 vs 0.001)" in last, \
            stderr[-2000:]
    assert not (tmp_path / "one" / "config.json").exists()
