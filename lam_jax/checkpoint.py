"""Orbax checkpoints of the whole training state (params, optimiser, EMA target, RNG, step)."""
from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


class Checkpointer:
    def __init__(self, directory: str, max_to_keep: int = 2):
        self.directory = os.path.abspath(directory)
        self.manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, tree) -> None:
        self.manager.save(step, args=ocp.args.StandardSave(tree))

    def restore(self, step: int, like):
        """Restores into the structure, shapes, dtypes and shardings of ``like``."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        return self.manager.restore(step, args=ocp.args.StandardRestore(abstract))

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def require_checkpoint(directory: str) -> Checkpointer:
    """Opens an existing checkpoint folder or says clearly that there is none."""
    ckpt = Checkpointer(directory) if os.path.isdir(directory) else None
    if ckpt is None or ckpt.latest_step() is None:
        raise FileNotFoundError(f"no checkpoint in {directory!r}; train that stage first")
    return ckpt
