"""Metrics: JSON lines on disk (one object per logged step), read back for plots and reports."""
from __future__ import annotations

import json
import os


class JsonlWriter:
    def __init__(self, path: str):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path

    def write(self, step: int, metrics: dict) -> None:
        row = {"step": int(step), **{k: float(v) for k, v in metrics.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")


def read_jsonl(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def truncate_jsonl(path: str, last_step: int) -> None:
    """Drops rows logged after ``last_step`` (a resumed run logs those steps again)."""
    if not os.path.exists(path):
        return
    rows = [r for r in read_jsonl(path) if r["step"] <= last_step]
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    os.replace(tmp, path)
