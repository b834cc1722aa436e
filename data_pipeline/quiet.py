"""Known third-party noise, silenced in the worker processes this package starts: they are its own
processes, so setting them up changes nothing in the caller's (experiments/runtime.py does the same
for an entry point's process). LAM_JAX_VERBOSE=1 keeps everything."""
from __future__ import annotations

import logging
import os
import warnings


class DropKnownNoise(logging.Filter):
    """Warnings that say nothing to our users: dm_control's models use MuJoCo's deprecated
    'settotalmass' (one per environment); TFDS announces every custom builder configuration."""

    KNOWN = ("settotalmass", "Using custom data configuration")

    def filter(self, record):
        return not any(k in record.getMessage() for k in self.KNOWN)


def silence_known_noise() -> None:
    """absl's known warnings dropped and gym's import notice emptied, before the simulator is imported:
    the first call of every worker process (a spawned pool's initializer, a Process target's first line)."""
    absl = logging.getLogger("absl")
    if not any(isinstance(f, DropKnownNoise) for f in absl.filters):
        absl.addFilter(DropKnownNoise())
    if os.environ.get("LAM_JAX_VERBOSE"):
        return
    warnings.filterwarnings("ignore", message=".*Gym has been unmaintained.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:  # gym (imported by distracting_control) prints an "unmaintained" notice from this table at import
        import gym_notices.notices as gym_notices
        gym_notices.notices.clear()
    except ImportError:
        pass
