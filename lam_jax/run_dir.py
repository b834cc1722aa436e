"""A run's folder owns its config: a resumed run must have been started with the same settings."""
from __future__ import annotations

import json
import os
import time

# Keys that may change between a run and its resumption: the length of training and how it is
# logged, saved or spread over devices. Everything else (model, data, optimiser) must match.
SAFE_KEYS = ("num_steps", "num_epochs", "stop_at", "log_every", "save_every", "keep_checkpoints", "workdir",
             "num_devices", "distributed.", "data.streaming", "data.buffer_episodes", "data.buffer_steps")


class ConfigMismatchError(ValueError):
    """A run folder was resumed with other settings."""


def flatten(tree, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return out


def _is_safe(key: str, safe) -> bool:
    return any(key == s or (s.endswith(".") and key.startswith(s)) for s in safe)


def write_json(path: str, obj) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


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
    with open(path) as f:
        old = flatten(json.load(f))
    new = flatten(config)
    changed = {k: [old.get(k), new.get(k)] for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}
    unsafe = {k: v for k, v in changed.items() if not _is_safe(k, safe)}
    if unsafe:
        lines = "\n".join(f"  {k}: {a!r} (run) != {b!r} (now)" for k, (a, b) in unsafe.items())
        raise ConfigMismatchError(
            f"{workdir} holds a run started with other settings:\n{lines}\n"
            f"Resuming may change only {', '.join(s.rstrip('.') for s in safe)}. "
            "Use another workdir, or delete this one to start over.")
    if changed:
        with open(os.path.join(workdir, "resumes.jsonl"), "a") as f:
            f.write(json.dumps({"time": time.strftime("%Y-%m-%d %H:%M:%S"), "changed": changed}) + "\n")
        write_json(path, config)
    return changed
