"""A run's folder owns its config (a resumed run must have been started with the same settings) and
has one writer at a time."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time

# Keys that may change between a run and its resumption: the length of training and how it is
# logged, saved or spread over devices. Everything else (model, data, optimiser) must match.
SAFE_KEYS = ("num_steps", "num_epochs", "stop_at", "log_every", "save_every", "keep_checkpoints", "keep_every",
             "resume_fallback", "workdir", "num_devices", "distributed.", "log.", "data.streaming",
             "data.buffer_episodes", "data.buffer_steps")

# Keys added after runs were made: absent from an older run's config, they hold these defaults.
ADDED_KEYS = {"data.eval_path": "", "data.labeled_paths": "", "eval.davis_path": "", "eval.allow_procedural": False,
              "resume_fallback": True, "bc.weight_decay": 0.0, "decoder.weight_decay": 0.0,
              "bc_scratch.weight_decay": 0.0, "label_head_learning_rate": 0.0, "model.augment_scale": 1.0,
              "model.augment_views": "independent"}


LOCK_FILE = ".writer.lock"


class ConfigMismatchError(ValueError):
    """A run folder was resumed with other settings."""


class FolderBusyError(RuntimeError):
    """Another live process writes the folder."""


def lock(folder: str):
    """Takes ``folder``'s writer lock and returns its open file: held until that file is closed or
    the process ends, however it ends (the kernel releases an flock with the process), so a
    requeued job whose predecessor died proceeds, and one whose predecessor lives stops at once."""
    os.makedirs(folder, exist_ok=True)
    f = open(os.path.join(folder, LOCK_FILE), "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "pid ?"
        f.close()
        raise FolderBusyError(f"another process ({holder}) is writing {folder}; wait for it or stop it") from None
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()} on {socket.gethostname()}")
    f.flush()
    return f


@contextlib.contextmanager
def exclusive(folder: str):
    """One writer per folder while the block runs: a second one stops at once, naming the first."""
    f = lock(folder)
    try:
        yield
    finally:
        f.close()


def flatten(tree, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return out


def read_json(path: str):
    with open(path) as f:
        return json.load(f)


def write_json(path: str, obj, indent: int | None = 1) -> None:
    """Written whole or not at all (a temporary file, fsync, renamed into place), its folder made if missing."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=indent)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def claim_settings(folder: str, name: str, settings: dict, hint: str, in_use: bool = True) -> None:
    """A folder's unfinished work resumes only under the settings that started it: ``name`` in
    ``folder`` records them; other settings raise while the folder is ``in_use`` (has work to lose)."""
    os.makedirs(folder, exist_ok=True)
    marker = os.path.join(folder, name)
    settings = json.loads(json.dumps(settings))  # tuples -> lists, as stored
    if os.path.isfile(marker):
        found = read_json(marker)
        if found == settings:
            return
        if in_use:
            raise ValueError(f"{folder} holds {hint} with other settings:\n  found {found}\n  wanted {settings}\n"
                             f"delete it or choose another name")
    write_json(marker, settings)


def _check_changes(workdir: str, path: str, config: dict, safe, doing: str) -> dict:
    """{key: [old, new]} for every difference; raises ConfigMismatchError if one is not in ``safe``."""
    old = {**ADDED_KEYS, **flatten(read_json(path))}
    new = {**ADDED_KEYS, **flatten(json.loads(json.dumps(config)))}  # tuples -> lists, as stored
    changed = {k: [old.get(k), new.get(k)] for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}
    unsafe = {k: v for k, v in changed.items()  # safe: a key of ``safe``, or under one ending in "."
              if not any(k == s or (s.endswith(".") and k.startswith(s)) for s in safe)}
    if unsafe:
        lines = "\n".join(f"  {k}: {a!r} (run) != {b!r} (now)" for k, (a, b) in unsafe.items())
        raise ConfigMismatchError(
            f"{workdir} holds a run started with other settings:\n{lines}\n"
            f"{doing} may change only {', '.join(s.rstrip('.') for s in safe)}. "
            "Use another workdir (or --out), or delete this one to start over.")
    return changed


def claim(workdir: str, config: dict, safe=SAFE_KEYS, name: str = "config.json") -> dict:
    """Writes the run's config, or checks it against the one the run started with.

    Returns the changed safe keys {key: [old, new]} (recorded in resumes.jsonl); any other
    difference raises ConfigMismatchError naming the keys.
    """
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, name)
    config = json.loads(json.dumps(config))  # tuples -> lists, as stored
    if not os.path.exists(path):
        write_json(path, config)
        return {}
    changed = _check_changes(workdir, path, config, safe, "Resuming")
    if changed:
        with open(os.path.join(workdir, "resumes.jsonl"), "a") as f:
            f.write(json.dumps({"time": time.strftime("%Y-%m-%d %H:%M:%S"), "changed": changed}) + "\n")
        write_json(path, config)
    return changed


# A finished run may be reused under another layout or logging, but not for another length of training.
FINISHED_SAFE_KEYS = tuple(k for k in SAFE_KEYS if k not in ("num_steps", "num_epochs", "stop_at"))


def finished_report(workdir: str, config: dict, report: str = "report.json") -> dict | None:
    """The report of a finished run made with ``config``, or None when the run has not finished.

    Sweeps reuse finished runs; one made with other settings (e.g. another --lam.KEY=VALUE) raises
    ConfigMismatchError instead of silently standing in for the requested run.
    """
    path = os.path.join(workdir, report)
    if not os.path.exists(path):
        return None
    _check_changes(workdir, os.path.join(workdir, "config.json"), config, FINISHED_SAFE_KEYS, "Reusing a finished run")
    return read_json(path)
