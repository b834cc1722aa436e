"""A small jitted regression trainer shared by the downstream stages (BC, decoder, BC from scratch).

Episodes live on device (sharded along the data axis) and windows are sampled on device, as in
pretraining; ``targets(frozen, batch)`` computes the regression targets inside the step from a
frozen model's state (e.g. the LAM's latent actions), and ``inputs(frozen, batch)`` what the
trained module sees. Checkpoints make every stage resumable.
"""
from __future__ import annotations

import os
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from lam_jax import sampling, sharding
from lam_jax.checkpoint import Checkpointer
from lam_jax.data import Episodes
from lam_jax.metrics import JsonlWriter


def fit(module: nnx.Module, episodes: Episodes, *, inputs: Callable, targets: Callable, frozen=None,
        num_steps: int, batch_size: int, learning_rate: float, frame_stack: int, workdir: str | None,
        seed: int = 0, log_every: int = 100, save_every: int = 1000, num_devices: int = 0,
        desc: str = "fit", progress: bool = True) -> nnx.Module:
    """Trains ``module`` to regress targets(frozen, batch) from inputs(frozen, batch); returns it."""
    if num_steps < 1 or batch_size < 1:
        raise ValueError(f"num_steps and batch_size must be >= 1, got {num_steps}, {batch_size}")
    mesh = sharding.make_mesh(num_devices)
    graphdef, state = nnx.split((module, nnx.Optimizer(module, optax.adam(learning_rate), wrt=nnx.Param)))
    state = jax.device_put(state, sharding.replicated(mesh))
    frozen = jax.device_put(frozen, sharding.replicated(mesh)) if frozen is not None else None
    data = sampling.shard_episodes(episodes, mesh)
    sample = sampling.make_device_sampler(mesh, batch_size, frame_stack, max_offset=1)
    base_key = jax.random.PRNGKey(seed)

    @jax.jit
    def step_fn(state, frozen, data, step):
        model, opt = nnx.merge(graphdef, state)
        batch = sample(data, jax.random.fold_in(base_key, step))
        x, y = inputs(frozen, batch), jax.lax.stop_gradient(targets(frozen, batch))

        def loss_fn(m):
            return jnp.mean(jnp.square(m(x) - y))

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return nnx.state((model, opt)), loss

    ckpt = Checkpointer(os.path.join(workdir, "checkpoints")) if workdir else None
    start = 0
    if ckpt and ckpt.latest_step() is not None:
        start = ckpt.latest_step()
        state = ckpt.restore(start, {"state": state})["state"]
    writer = JsonlWriter(os.path.join(workdir, "metrics.jsonl")) if workdir else None
    block = jax.devices()[0].platform == "cpu"
    for step in tqdm(range(start, num_steps), initial=start, total=num_steps, desc=desc, disable=not progress,
                     unit="step"):
        state, loss = step_fn(state, frozen, data, step)
        if block:
            jax.block_until_ready(loss)
        done = step + 1
        if writer and (done % log_every == 0 or done == num_steps):
            value = float(loss)
            if not np.isfinite(value):
                raise FloatingPointError(f"{desc}: loss became {value} at step {done}")
            writer.write(done, {"loss": value})
        if ckpt and (done % save_every == 0 or done == num_steps):
            ckpt.save(done, {"state": state})
    if ckpt:
        ckpt.close()
    return nnx.merge(graphdef, state)[0]
