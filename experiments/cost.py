"""What an experiment's runs cost on this machine: wall and CPU time (this process and the runs it
started), summed over the invocations that trained something into OUT/cost.json, so a later
invocation that only reuses finished runs leaves the report unchanged."""
from __future__ import annotations

import os
import resource
import time

from lam_jax.training import run_dir

FILE = "cost.json"


def _cpu_s() -> float:
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


class Meter:
    """Wall and CPU seconds from construction to ``add``."""

    def __init__(self):
        self.wall0, self.cpu0 = time.time(), _cpu_s()

    def add(self, out: str, runs_made: int) -> dict:
        """Adds this invocation to OUT/cost.json when it trained ``runs_made`` > 0 runs; the totals."""
        total = read(out) or {"wall_s": 0.0, "cpu_s": 0.0, "runs_made": 0, "invocations": 0}
        if runs_made > 0:  # other keys (a note on what was not measured) are kept
            total = {**total, "wall_s": total["wall_s"] + time.time() - self.wall0,
                     "cpu_s": total["cpu_s"] + _cpu_s() - self.cpu0,
                     "runs_made": total["runs_made"] + runs_made, "invocations": total["invocations"] + 1}
            run_dir.write_json(os.path.join(out, FILE), total)
        return total


def read(out: str) -> dict | None:
    path = os.path.join(out, FILE)
    return run_dir.read_json(path) if os.path.exists(path) else None


def line(total: dict | None) -> str:
    if not total or not total.get("runs_made"):
        return ""
    return (f"Compute on this machine: {total['cpu_s'] / 60:.0f} CPU-minutes, {total['wall_s'] / 60:.0f} minutes wall, "
            f"for the {total['runs_made']} runs trained here ({total['invocations']} invocation"
            f"{'s' if total['invocations'] != 1 else ''} of the command; reused runs cost nothing)"
            + (f"; {total['note']}." if total.get("note") else "."))
