"""Data pipeline: DCS environments, expert policies, trajectory collection, TFDS datasets."""
import logging
import os

# dm_control picks its GL backend at import time; headless EGL is the fast default.
os.environ.setdefault("MUJOCO_GL", "egl")


class _DropKnownNoise(logging.Filter):
    """Warnings that say nothing to our users: dm_control's models use MuJoCo's deprecated
    'settotalmass' (one per environment); TFDS announces every custom builder configuration."""

    KNOWN = ("settotalmass", "Using custom data configuration")

    def filter(self, record):
        return not any(k in record.getMessage() for k in self.KNOWN)


logging.getLogger("absl").addFilter(_DropKnownNoise())

try:  # gym (imported by distracting_control) prints an "unmaintained" notice from this table at import
    import gym_notices.notices as _gym_notices
    _gym_notices.notices.clear()
except ImportError:
    pass
