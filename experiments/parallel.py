"""Independent runs in parallel on a many-core CPU host: one process per core, single-threaded XLA.

Small models use several cores poorly within one step, so ``workers`` single-threaded runs side
by side finish sooner than the same runs one after another on all cores (measured: 1.1x to 1.2x
on 2 cores). Each job is a command line; results come back through the files the jobs write.
Numerics depend on XLA's thread count, so a given ``workers`` setting always reproduces its own
numbers (the default, 1, runs everything in this process).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def pretrain_command(method_config: str, workdir: str, dataset: str) -> list[str]:
    """The pretraining entry point for ``configs/<method>.py:<variant>[,key=value...]``."""
    return ["-m", "experiments.pretrain", f"--config={method_config}", f"--config.workdir={workdir}",
            f"--config.data.path={dataset}"]


def run_commands(commands: list[list[str]], workers: int, log_dir: str) -> None:
    """Runs ``python ARGS`` lists, ``workers`` at a time, each pinned to its own core."""
    os.makedirs(log_dir, exist_ok=True)
    cores = sorted(os.sched_getaffinity(0))
    if workers > len(cores):
        raise ValueError(f"{workers} workers but only {len(cores)} cores are available")
    env = dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {SINGLE_THREAD_XLA}".strip())
    pending, running, failed = list(enumerate(commands)), {}, []
    while pending or running:
        while pending and len(running) < workers:
            i, args = pending.pop(0)
            core = next(c for c in cores if c not in {r[1] for r in running.values()})
            log = open(os.path.join(log_dir, f"job{i:03d}.log"), "w")
            # Pinned from here right after the start, not by preexec_fn: no Python runs in the forked
            # child, which is unsafe beside threads (JAX's, or the main job's random-policy thread).
            proc = subprocess.Popen([sys.executable, *args], env=env, stdout=log, stderr=subprocess.STDOUT)
            os.sched_setaffinity(proc.pid, {core})
            running[proc.pid] = (proc, core, log, i, args)
            print(f"  started job {i + 1}/{len(commands)} on core {core}: {' '.join(args[2:])}", flush=True)
        time.sleep(1)
        for pid, (proc, core, log, i, args) in list(running.items()):
            if proc.poll() is not None:
                log.close()
                del running[pid]
                if proc.returncode:
                    failed.append((i, log.name))
    if failed:
        raise RuntimeError("parallel jobs failed: " + ", ".join(f"job {i + 1} (log: {path})" for i, path in failed))
