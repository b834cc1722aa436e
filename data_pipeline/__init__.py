"""Data pipeline: DCS environments, expert policies, trajectory collection, TFDS datasets.
Importing it changes nothing global: experiments/runtime.py sets MUJOCO_GL and quiets known noise."""
