"""The host training loop every stage shares: config-checked resume, logging, checkpoints, divergence.

A stage supplies ``step_fn(carry, step) -> (carry, metrics)`` over a ``checkpoint.Carry`` (state,
health: the first step whose loss or gradients were not finite, or -1, kept on device by the step
itself, rng); checkpoints hold the carry and its step (``checkpoint.saved``). The loop checks
health at every log and before every save, so a diverged run stops with the step named and never
writes a non-finite checkpoint.
"""
from __future__ import annotations

import itertools
import json
import os
import signal
import sys
import threading
import time
import uuid
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from lam_jax.devices import hardware, sharding
from lam_jax.training import checkpoint, run_dir
from lam_jax.training.checkpoint import Carry, Checkpointer, DamagedCheckpointError, NonFiniteError
from lam_jax.training.metrics import MetricWriter, read_jsonl


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped training once a checkpoint of the step reached was saved."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


class PeerLostError(RuntimeError):
    """A step's collective failed in a multi-process run: another process died or was cut off."""


class RunAgreementError(RuntimeError):
    """The processes of a multi-host run do not share the workdir, or not the config."""


_agreements = itertools.count()  # every process builds its loops in the same order


def agree_on_run(workdir: str, config: dict, timeout_s: int = 60) -> None:
    """Before anything is written: every process of a multi-host run sees the file process 0 puts
    in the workdir (one shared folder) and was given process 0's config (but for its place in the
    run, config.distributed, and the data paths: a host may read its own copy). Each process learns every process's answer through the coordination
    service, so all of them stop with the same one line."""
    client = sharding.coordination_client()
    if client is None or jax.process_count() == 1:
        return
    me, key = jax.process_index(), f"lam_jax_agree/{next(_agreements)}"
    flat = run_dir.flatten(json.loads(json.dumps(config)))
    client.key_value_set(f"{key}/config/{me}", json.dumps({k: v for k, v in flat.items()
                                                           if not k.startswith(("distributed.", "workdir", "data.path",
                                                                                "data.eval_path", "data.labeled_paths"))}))
    marker = os.path.join(workdir, ".shared_check")
    if me == 0:
        token = uuid.uuid4().hex
        os.makedirs(workdir, exist_ok=True)
        with open(marker, "w") as f:
            f.write(token)
        client.key_value_set(f"{key}/token", token)
    token = client.blocking_key_value_get(f"{key}/token", timeout_s * 1000)
    deadline = time.time() + min(timeout_s, 30)  # a shared filesystem may show a new file a little late
    while True:
        try:
            with open(marker) as f:
                seen = f.read() == token
        except OSError:
            seen = False
        if seen or time.time() > deadline:
            break
        time.sleep(0.5)
    client.key_value_set(f"{key}/sees/{me}", "1" if seen else "0")
    sharding.barrier(f"agree {key}", timeout_s)
    reference = json.loads(client.blocking_key_value_get(f"{key}/config/0", timeout_s * 1000))
    problems = []
    for i in range(1, jax.process_count()):
        if client.blocking_key_value_get(f"{key}/sees/{i}", timeout_s * 1000) != "1":
            problems.append(f"the workdir is not shared: process {i} cannot see {marker}, which process 0 wrote "
                            "(give every process the same folder on a shared filesystem)")
        theirs = json.loads(client.blocking_key_value_get(f"{key}/config/{i}", timeout_s * 1000))
        differ = sorted(k for k in set(reference) | set(theirs) if reference.get(k) != theirs.get(k))
        if differ:
            problems.append(f"process {i}'s config differs from process 0's in " + ", ".join(
                f"{k} ({theirs.get(k)!r} vs {reference.get(k)!r})" for k in differ[:4])
                            + (f" and {len(differ) - 4} more" if len(differ) > 4 else ""))
    sharding.barrier(f"agreed {key}", timeout_s)  # every process has read every answer
    if problems:
        if me == 0:  # process 0 hosts the coordination service: it leaves last, after the others' line
            time.sleep(3)
        raise RunAgreementError("; ".join(problems))
    if me == 0:
        os.remove(marker)


class StopRequests:
    """SIGINT/SIGTERM (what schedulers send before preemption) ask the loop to stop after the step in
    flight; a second signal interrupts at once. With several processes the one that is signalled
    names a step two ahead in the coordination service, and every process stops there (the steps
    are collective, so the processes are at most one step apart)."""

    def __init__(self, key: str):
        self.key, self.signum, self._old, self._announced = f"lam_jax_stop/{key}", None, {}, False

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame):
        if self.signum is not None:  # the second one: stop now
            signal.signal(signum, self._old.get(signum, signal.SIG_DFL))
            raise KeyboardInterrupt
        self.signum = signum

    def stop_now(self, done: int) -> bool:
        if jax.process_count() == 1:
            return self.signum is not None
        client = sharding.coordination_client()
        if self.signum is not None and not self._announced:
            self._announced = True
            try:
                client.key_value_set(self.key, str(done + 2))
            except Exception:  # noqa: BLE001 (another process named the step first)
                pass
        try:
            stop_at = client.key_value_try_get(self.key)
        except Exception:  # noqa: BLE001 (not set)
            return False
        self.signum = self.signum or signal.SIGTERM
        return done >= int(stop_at)


# Logged metrics that measure the machine, not the run: they differ between identical runs.
TIMING_KEYS = ("samples_per_s", "tflops", "mfu", "memory_gib")


def throughput(samples: int, batch_size: int, seconds: float, flops_per_step: float,
               peak_tflops: float | None) -> dict:
    """samples/s over a logging interval; achieved TFLOP/s and MFU where the step's FLOPs and the
    chip's peak are known; peak device memory where jax reports it (not on CPU)."""
    out = {"samples_per_s": samples / seconds}
    if flops_per_step:
        out["tflops"] = flops_per_step * samples / batch_size / seconds / 1e12
        if peak_tflops:
            out["mfu"] = out["tflops"] / peak_tflops
    memory = hardware.peak_memory_gib()
    if memory is not None:
        out["memory_gib"] = memory
    return out


def new_health(mesh):
    return sharding.put_replicated(np.int32(-1), mesh)


def guard(new_state, old_state, health, step, *values):
    """Inside a jitted step: keeps ``old_state`` unless every value is finite and the run is still
    healthy; records the first bad step in ``health``."""
    ok = health < 0
    for v in values:
        ok = ok & jnp.all(jnp.isfinite(v))
    state = jax.tree.map(lambda new, old: jnp.where(ok, new, old), new_state, old_state)
    return state, jnp.where((health < 0) & ~ok, step, health)


class TrainLoop:
    def __init__(self, workdir: str | None, config: dict, mesh, *, keep_checkpoints: int = 2, keep_every: int = 0,
                 hint: str = "lower the learning rate", fallback: bool = True, log_cfg: dict | None = None):
        self.workdir, self.mesh, self.hint, self.fallback = workdir, mesh, hint, fallback
        self.main = sharding.is_main_process()
        self.ckpt = self.writer = self._lock = None
        if workdir:
            # One writer per workdir (a double submission, a requeue beside a live job), then the
            # processes' agreement, before config.json is written.
            self._lock = run_dir.lock(workdir) if self.main else None
            try:
                agree_on_run(workdir, config)
                if self.main:
                    run_dir.claim(workdir, config)
            except BaseException:
                self.release()
                raise
            self.ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), keep_checkpoints, keep_every)
            self.writer = MetricWriter(workdir, log_cfg, config=config) if self.main else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def release(self) -> None:
        """Lets another run write the workdir (the lock goes with the process anyway)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def check_health(self, health) -> None:
        bad = int(jax.device_get(health))
        if bad >= 0:
            last = self.ckpt.latest_step() if self.ckpt else None
            raise NonFiniteError(
                f"training diverged: the loss or gradients became NaN/Inf at step {bad + 1}. That step and "
                "later ones were not applied and nothing from them was saved"
                + (f" (last checkpoint: step {last})" if last is not None else "") + f"; {self.hint}.")

    def resume(self, carry: Carry) -> tuple[Carry, int]:
        """The latest readable checkpoint restored into ``carry``'s layout, and its step (0 without one).

        A damaged newest checkpoint is reported and set aside, and the previous one restored
        (unless ``fallback`` is off: then the error stops the run)."""
        if not self.ckpt or self.ckpt.latest_step() is None:
            return carry, 0
        like = checkpoint.saved(carry, sharding.put_replicated(np.int32(0), self.mesh))
        steps, damaged = self.ckpt.steps(), []
        for i, step in enumerate(steps):
            try:
                restored = self.ckpt.restore(step, like)
                break
            except DamagedCheckpointError as e:
                if not self.fallback or i + 1 == len(steps):
                    raise
                damaged.append(step)
                if self.main:
                    print(f"warning: {e}; resuming from the previous checkpoint, step {steps[i + 1]}",
                          file=sys.stderr, flush=True)
        if damaged:
            if self.main:
                for step in damaged:
                    print(f"moved the damaged checkpoint to {self.ckpt.set_aside(step)}", file=sys.stderr, flush=True)
            sharding.barrier("checkpoints set aside", 600)
            self.ckpt.manager.reload()
        self.check_health(restored["health"])
        start = int(jax.device_get(restored.pop("step")))
        if self.writer:
            self.writer.resume(start)
        return restored, start

    def run(self, step_fn: Callable, carry: dict, start: int, num_steps: int, *, log_every: int, save_every: int,
            batch_size: int, desc: str, progress: bool = True, flops_per_step: float = 0.0,
            peak_tflops: float | None = None, previews: Callable | None = None,
            previews_every: int = 0) -> tuple[dict, dict]:
        """Steps ``start..num_steps``; returns the carry and the last logged metrics. SIGINT or
        SIGTERM stops it after the step in flight, with a checkpoint of that step (TrainingInterrupted).
        With ``flops_per_step`` (XLA's count) the logs add achieved TFLOP/s and, given the chip's
        peak, MFU; ``previews(carry, step) -> {tag: uint8 image}`` runs on every process every
        ``previews_every`` steps (it may be collective) and process 0 logs the images."""
        block_each_step = jax.devices()[0].platform == "cpu"  # XLA CPU collectives can deadlock when queued
        last, t0, samples = {}, time.perf_counter(), 0
        bar = tqdm(range(start, num_steps), initial=start, total=num_steps, desc=desc, unit="step",
                   disable=not (progress and self.main), dynamic_ncols=True)
        stops = StopRequests(f"{self.workdir or desc}/{start}")
        done = start
        try:
            with stops:
                for step in bar:
                    carry, metrics = step_fn(carry, step)
                    if block_each_step or step == start:
                        jax.block_until_ready(metrics)
                    if step == start:
                        bar.unpause()  # the rate and ETA leave out the first step's compilation
                    samples += batch_size
                    done = step + 1
                    if done % log_every == 0 or done == num_steps:
                        self.check_health(carry["health"])
                        last = {k: float(v) for k, v in jax.device_get(metrics).items()}
                        last.update(throughput(samples, batch_size, time.perf_counter() - t0, flops_per_step,
                                               peak_tflops))
                        t0, samples = time.perf_counter(), 0
                        bar.set_postfix(loss=f"{last['loss']:.4g}")
                        if self.writer:
                            self.writer.scalars(done, last)
                    if previews is not None and previews_every > 0 and (done % previews_every == 0
                                                                        or done == start + 1):
                        images = previews(carry, done)
                        if self.writer and images:
                            self.writer.images(done, images)
                    stop = done < num_steps and stops.stop_now(done)
                    if self.ckpt and (done % save_every == 0 or done == num_steps or stop):
                        self.check_health(carry["health"])
                        done_array = sharding.put_replicated(np.int32(done), self.mesh)
                        self.ckpt.save(done, checkpoint.saved(carry, done_array))
                    if stop:
                        saved = "saved a checkpoint of it; the same command resumes" if self.ckpt else "nothing saved"
                        raise TrainingInterrupted(f"{desc}: stopped by {signal.Signals(stops.signum).name} at step "
                                                  f"{done} of {num_steps}; {saved}", stops.signum)
        except jax.errors.JaxRuntimeError as e:
            if jax.process_count() == 1:
                raise
            # Gloo (CPU) reports a dead peer at once; NCCL hangs until jax's heartbeat check
            # (lam_jax.devices.fatal_filter turns that abort into one line).
            raise PeerLostError(
                f"{desc}: a step's collective failed after step {done} "
                f"({str(e).splitlines()[0][:200]}): another process of this multi-host run died or was cut off; "
                "rerun the same command on every process to resume from the newest checkpoint") from None
        finally:
            bar.close()
            if self.ckpt:
                self.ckpt.close()  # waits for the last save
            if self.writer:
                self.writer.close()
        if not last and self.writer and os.path.exists(self.writer.path):  # already finished: the last log
            rows = read_jsonl(self.writer.path)
            last = {k: v for k, v in rows[-1].items() if k != "step"} if rows else {}
        return carry, last
