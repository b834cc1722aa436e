"""How every experiment of many runs runs them: one process per run, ``workers`` at a time.

A run is a ``Job``: an entry point's command line and how to read its result (None until it has
finished). ``execute`` starts the runs not finished yet and returns every run's result, so an
interrupted experiment resumes and a finished one only reads. With ``workers`` > 1 each process is
pinned to its own core with single-threaded XLA: small models use several cores poorly within one
step, so side by side they finish sooner (measured: 1.1x to 1.2x on 2 cores). Numerics depend on
XLA's thread count, so a given ``workers`` setting always reproduces its own numbers; ``workers`` = 1
gives each run every core.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import subprocess
import sys
import time
from typing import Callable

from absl import flags
from ml_collections import config_flags

from configs import common, downstream as downstream_configs, methods
from experiments import pipeline_run
from lam_jax.stages import pretrain

SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


@dataclasses.dataclass(frozen=True)
class Job:
    args: list[str]  # python ARGS
    read: Callable[[], dict | None]  # the run's result, None until it has finished
    workdir: str = ""


def lam_overrides_flag():
    """An experiment's ``--lam.KEY=VALUE`` flags: overrides of every run's LAM config (KEY as in
    configs/common.py), after the experiment's own; ``overrides_of`` lists them."""
    return _override_flag("lam", common.lam_config(), "LAM")


def downstream_overrides_flag():
    """``--downstream.KEY=VALUE``: the same for every run's downstream config (configs/downstream.py)."""
    return _override_flag("downstream", downstream_configs.get_config(), "downstream")


def _override_flag(name: str, template, what: str):
    try:  # checked before absl parses them: a bad key or value is one line naming it
        common.override(copy.deepcopy(template), overrides_of(name))
    except (KeyError, ValueError) as e:
        raise SystemExit(f"error: --{name}.KEY=VALUE: {e}") from None
    return config_flags.DEFINE_config_dict(name, template, f"--{name}.KEY=VALUE: a {what} config override")


def from_results_flag(results: str, also: str = ""):
    """An experiment's ``--from_results``: its report written again from ``OUT/<results>`` alone."""
    return flags.DEFINE_bool("from_results", False, f"write the report again from OUT/{results} alone (no run is read "
                             f"or trained; the report keeps the command that made the results{also})")


def overrides_of(name: str) -> tuple:
    """This command line's ``--NAME.KEY=VALUE`` items as given, ``KEY=VALUE``: a run's command line passes
    them on as ``--config.KEY=VALUE``, parsed the same way."""
    return tuple(arg[len(name) + 3:] for arg in sys.argv[1:] if arg.startswith(f"--{name}."))


def pretrain_job(method: str, variant: str, overrides, workdir: str, dataset: str) -> Job:
    """Pretraining ``configs/<method>.py:<variant>`` with KEY=VALUE overrides into ``workdir``; its result
    is report.json."""
    overrides = common.last_per_key(overrides)  # as override() applies them (ml_collections would join tuples)
    cfg = methods.lam_config(method, variant, dataset, workdir, overrides)
    module = methods.LAM_CONFIGS[method].replace(".", "/")
    args = ["-m", "experiments.pretrain", f"--config={module}.py:{variant}", *(f"--config.{x}" for x in overrides),
            f"--config.workdir={workdir}", f"--config.data.path={dataset}"]
    return Job(args, lambda: pretrain.finished(cfg), workdir)


def pipeline_job(pipe: pipeline_run.PipelineRun) -> Job:
    """One method's whole pipeline; its result is summary.json."""
    args = ["-m", "experiments.pipeline", f"--method={pipe.method}", f"--dataset={pipe.dataset}",
            f"--labeled={pipe.labeled}", f"--seed={pipe.seed}", f"--variant={pipe.variant}", f"--out={pipe.out}"]
    args += [f"--lam.{x}" for x in pipe.lam_overrides] + [f"--downstream.{x}" for x in pipe.downstream_overrides]
    args += [f"--eval_split={pipe.eval_split}"] if pipe.eval_split else []
    return Job(args, lambda: pipeline_run.finished(pipe), pipe.folder)


def execute(jobs: list[Job], workers: int, log_dir: str) -> list[dict]:
    """Runs the jobs not finished yet, ``workers`` at a time, then returns every job's result."""
    run_commands([job.args for job in jobs if job.read() is None], workers, log_dir)
    results = [job.read() for job in jobs]
    missing = [" ".join(job.args) for job, result in zip(jobs, results) if result is None]
    if missing:
        raise RuntimeError("runs ended without a result: " + "; ".join(missing))
    return results


def run_commands(commands: list[list[str]], workers: int, log_dir: str) -> None:
    """Runs ``python ARGS`` lists, ``workers`` at a time (each pinned to its own core when > 1)."""
    if not commands:
        return
    os.makedirs(log_dir, exist_ok=True)
    cores = sorted(os.sched_getaffinity(0))
    if workers > len(cores):
        raise ValueError(f"{workers} workers but only {len(cores)} cores are available")
    env = dict(os.environ)
    if workers > 1:
        env["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {SINGLE_THREAD_XLA}".strip()
    pending, running, failed = list(enumerate(commands)), {}, []
    while pending or running:
        while pending and len(running) < workers:
            i, args = pending.pop(0)
            core = next(c for c in cores if c not in {r[1] for r in running.values()})
            log = open(os.path.join(log_dir, f"job{i:03d}.log"), "w")
            # Pinned from here right after the start, not by preexec_fn: no Python runs in the forked
            # child, which is unsafe beside threads (JAX's, or the main job's random-policy thread).
            proc = subprocess.Popen([sys.executable, *args], env=env, stdout=log, stderr=subprocess.STDOUT)
            if workers > 1:
                os.sched_setaffinity(proc.pid, {core})
            running[proc.pid] = (proc, core, log, i, args)
            where = f"on core {core}" if workers > 1 else f"(log: {log.name})"
            print(f"  started job {i + 1}/{len(commands)} {where}: {' '.join(args[2:])}", flush=True)
        time.sleep(1)
        for pid, (proc, core, log, i, args) in list(running.items()):
            if proc.poll() is not None:
                log.close()
                del running[pid]
                if proc.returncode:
                    failed.append((i, log.name))
    if failed:
        raise RuntimeError("parallel jobs failed: " + ", ".join(f"job {i + 1} (log: {path})" for i, path in failed))
