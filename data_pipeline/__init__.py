"""Data pipeline: DCS environments, expert policies, trajectory collection, TFDS datasets."""
import os

# dm_control picks its GL backend at import time; headless EGL is the fast default.
os.environ.setdefault("MUJOCO_GL", "egl")
