"""Orbax checkpoints of whole training states; a checkpoint holding NaN or Inf is refused."""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp


class NonFiniteError(FloatingPointError):
    """Training produced (or a checkpoint holds) NaN or Inf."""


def all_finite(tree) -> bool:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)]
    return bool(jnp.all(jnp.stack(leaves))) if leaves else True


class Checkpointer:
    def __init__(self, directory: str, max_to_keep: int = 2):
        self.directory = os.path.abspath(directory)
        self.manager = ocp.CheckpointManager(self.directory, options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, cleanup_tmp_directories=True))

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, tree) -> None:
        self.manager.save(step, args=ocp.args.StandardSave(tree))

    def restore(self, step: int, like):
        """Restores into the structure, shapes, dtypes and shardings of ``like``; refuses NaN/Inf."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        tree = self.manager.restore(step, args=ocp.args.StandardRestore(abstract))
        if not all_finite(tree):
            raise NonFiniteError(f"the checkpoint of step {step} in {self.directory} holds NaN or Inf values; "
                                 "delete it (or the whole run) and train again")
        return tree

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def require_checkpoint(directory: str) -> Checkpointer:
    """Opens an existing checkpoint folder or says clearly that there is none."""
    ckpt = Checkpointer(directory) if os.path.isdir(directory) else None
    if ckpt is None or ckpt.latest_step() is None:
        raise FileNotFoundError(f"no checkpoint in {directory!r}; train that stage first")
    return ckpt
