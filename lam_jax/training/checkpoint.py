"""Orbax checkpoints of whole training states; a checkpoint holding NaN or Inf is refused.

Saves complete before training goes on, so a failed save (a full disk) is reported at the save
that failed, in one line; a checkpoint that cannot be read is reported in one line naming its
step and folder, and ``set_aside`` moves it out of the way of a resume from an older one.
"""
from __future__ import annotations

import contextlib
import gc
import os
import shutil
import sys
import time
from typing import Any, TypedDict

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from lam_jax.training import run_dir


class Carry(TypedDict):
    """What every training loop carries between steps, and (with ``step``) what its checkpoints hold:
    the one checkpoint layout, shared by the LAM trainer, ``supervised.fit`` and every restore."""

    state: Any  # nnx.state((model, optimizer))
    health: Any  # int32: the first step whose loss or gradients were not finite, or -1
    rng: Any  # the run's base key; step k's randomness is fold_in(rng, k)


def saved(carry: Carry, step) -> dict:
    """A checkpoint's tree: the carry and the number of steps done."""
    return dict(carry, step=step)


def restore_state(ckpt: "Checkpointer", step: int, state):
    """The model-and-optimiser state of a checkpoint, restored into ``state``'s layout."""
    like = saved(Carry(state=state, health=jnp.int32(-1), rng=jax.random.PRNGKey(0)), jnp.int32(0))
    return ckpt.restore(step, like)["state"]


class NonFiniteError(FloatingPointError):
    """Training produced (or a checkpoint holds) NaN or Inf."""


class DamagedCheckpointError(RuntimeError):
    """A checkpoint cannot be read, or cannot be trusted."""


class NonFiniteCheckpointError(NonFiniteError, DamagedCheckpointError):
    """A checkpoint holds NaN or Inf: damaged like any other (resume falls back past it)."""


ACCEPT_UNVERIFIED = "LAM_JAX_ACCEPT_UNVERIFIED"  # =1: restore checkpoints that have no fingerprint file


class CheckpointSaveError(RuntimeError):
    """A checkpoint could not be written."""


def root_cause(e: BaseException) -> str:
    """The innermost cause's first line: the disk's or the file's complaint, not the wrappers'."""
    while e.__cause__ is not None or (e.__context__ is not None and not e.__suppress_context__):
        e = e.__cause__ or e.__context__
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text[:1000]}"


def all_finite(tree) -> bool:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)]
    return bool(jnp.all(jnp.stack(leaves))) if leaves else True


FINGERPRINT_FILE = "lam_jax_fingerprint.json"


@jax.jit
def _fingerprint(leaves):
    """Every element's bits, weighted by position, summed modulo 2^32: exact and independent of order
    and sharding, so a restored state matches the saved one bit for bit or the sums differ."""
    total = jnp.uint32(0)
    for i, x in enumerate(leaves):
        bits = jax.lax.bitcast_convert_type(x, {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint64}[
            x.dtype.itemsize]).astype(jnp.uint32).ravel()
        weights = jnp.arange(bits.size, dtype=jnp.uint32) * jnp.uint32(2654435761) + jnp.uint32(2 * i + 1)
        total = total + jnp.sum(bits * weights, dtype=jnp.uint32)
    return total


def fingerprint(tree) -> int:
    leaves = [x for x in jax.tree.leaves(tree) if hasattr(x, "dtype") and not jax.dtypes.issubdtype(
        x.dtype, jax.dtypes.prng_key) and x.dtype.itemsize in (1, 2, 4, 8)]
    return int(jax.device_get(_fingerprint(leaves)))


@contextlib.contextmanager
def _stderr_to(path: str):
    """File descriptor 2 (C++ and Python threads alike) goes to ``path`` meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "w") as f:
            os.dup2(f.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


class Checkpointer:
    def __init__(self, directory: str, max_to_keep: int = 2, keep_every: int = 0):
        """The newest ``max_to_keep`` checkpoints, and with ``keep_every`` > 0 every one at a multiple of it."""
        self.directory = os.path.abspath(directory)
        self.manager = ocp.CheckpointManager(self.directory, options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, keep_period=keep_every or None, create=True, cleanup_tmp_directories=True,
            enable_async_checkpointing=False))  # a failure raises here, not from background threads

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def _log(self, what: str, step: int) -> str:
        """Where orbax's own reports of a failed save or restore go (beside the checkpoints)."""
        name = f"{what}_error_step{step}_process{jax.process_index()}.log"
        return os.path.join(os.path.dirname(self.directory), name)

    def steps(self) -> list[int]:
        """Saved steps, newest first."""
        return sorted(self.manager.all_steps(), reverse=True)

    def save(self, step: int, tree) -> None:
        """Writes in this thread: a failure is raised here, for this step (async, orbax reported it a save
        later, under hundreds of lines from its threads)."""
        log = self._log("save", step)
        try:
            with _stderr_to(log):  # on a failure orbax's writer threads print it hundreds of times
                self.manager.save(step, args=ocp.args.StandardSave(tree))
                self.manager.wait_until_finished()
            value = fingerprint(tree)  # orbax stores no checksum: ours catches bytes changed on disk
            if jax.process_index() == 0:
                run_dir.write_json(os.path.join(self.directory, str(step), FINGERPRINT_FILE), {"fingerprint": value})
        except Exception as e:  # noqa: BLE001 (orbax and tensorstore raise many types)
            raise CheckpointSaveError(f"saving the checkpoint of step {step} to {self.directory} failed: "
                                      f"{root_cause(e)} (orbax's log: {log})") from None
        if os.path.exists(log):
            os.remove(log)

    def restore(self, step: int, like):
        """Restores into the structure, shapes, dtypes and shardings of ``like``; refuses NaN/Inf."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        log = self._log("restore", step)
        error = None
        with _stderr_to(log):  # a failed read, too, is reported by orbax's threads thousands of times
            try:
                tree = self.manager.restore(step, args=ocp.args.StandardRestore(abstract))
            except Exception as e:  # noqa: BLE001
                error = e
                time.sleep(1.0)  # its threads are still reporting
            gc.collect()  # abandoned reads report themselves when collected: here, into the log
        if error is not None:
            raise DamagedCheckpointError(f"the checkpoint of step {step} in {os.path.join(self.directory, str(step))} "
                                         f"cannot be read ({root_cause(error)}; orbax's log: {log})") from None
        if os.path.exists(log):
            os.remove(log)
        self._verify(step, tree)
        if not all_finite(tree):
            raise NonFiniteCheckpointError(f"the checkpoint of step {step} in {self.directory} holds NaN or Inf "
                                           "values; delete it (or the whole run) and train again")
        return tree

    def _verify(self, step: int, tree) -> None:
        """The restored state against the fingerprint saved with it (orbax keeps no checksum)."""
        where = os.path.join(self.directory, str(step))
        saved = os.path.join(where, FINGERPRINT_FILE)
        if not os.path.isfile(saved):
            if os.environ.get(ACCEPT_UNVERIFIED) == "1":
                return
            raise DamagedCheckpointError(
                f"the checkpoint of step {step} in {where} cannot be trusted: it has no {FINGERPRINT_FILE} (written "
                "by a lam-jax before fingerprints, or its save was cut short), so a change on disk would go unseen; "
                f"{ACCEPT_UNVERIFIED}=1 in the environment accepts it as it is")
        try:
            expected = int(run_dir.read_json(saved)["fingerprint"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DamagedCheckpointError(f"the checkpoint of step {step} in {where} cannot be trusted: its "
                                         f"{FINGERPRINT_FILE} is unreadable ({type(e).__name__})") from None
        if fingerprint(tree) != expected:
            raise DamagedCheckpointError(f"the checkpoint of step {step} in {where} cannot be read (its contents "
                                         "differ from what was saved: bytes changed on disk)")

    def set_aside(self, step: int) -> str:
        """Moves a damaged checkpoint to ``{directory}_damaged/{step}`` (kept for inspection)."""
        target = os.path.join(self.directory + "_damaged", str(step))
        if os.path.exists(target):
            shutil.rmtree(target)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.move(os.path.join(self.directory, str(step)), target)
        self.manager.reload()
        return target

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def require_checkpoint(directory: str) -> Checkpointer:
    """Opens an existing checkpoint folder or says clearly that there is none."""
    ckpt = Checkpointer(directory) if os.path.isdir(directory) else None
    if ckpt is None or ckpt.latest_step() is None:
        raise FileNotFoundError(f"no checkpoint in {directory!r}; train that stage first")
    return ckpt
