"""A jitted regression trainer shared by the downstream stages (BC, decoder, BC from scratch).

Episodes live on device (split along the data axis) and transitions (o_t, o_{t+1}) are sampled
on device, as in pretraining; ``targets(frozen, batch)`` computes the regression targets inside
the step from a frozen model's state (e.g. the LAM's latent actions), ``inputs(frozen, batch)``
what the trained module sees. The reference's schedule (Adam, linear decay to zero), resume and
divergence handling come from ``lam_jax.training.optim`` and ``lam_jax.training.loop``.
"""
from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from lam_jax.data import sampling
from lam_jax.devices import hardware, sharding
from lam_jax.training import loop, optim
from lam_jax.training.checkpoint import Carry


def check_settings(desc: str, num_steps: int, batch_size: int, learning_rate: float, weight_decay: float = 0.0):
    """A fit's settings, checked before it (or the stage around it) writes anything."""
    if batch_size < 1 or num_steps < 1 or learning_rate <= 0 or weight_decay < 0:
        raise ValueError(f"{desc}: batch_size must be >= 1, num_steps >= 1, learning_rate > 0 and weight_decay >= 0; "
                         f"got {batch_size}, {num_steps}, {learning_rate}, {weight_decay}")


def fit(module: nnx.Module, source, *, inputs: Callable, targets: Callable, frozen=None, num_steps: int,
        batch_size: int, learning_rate: float, warmup_steps: int = 0, frame_stack: int, workdir: str | None,
        config: dict | None = None, seed: int = 0, log_every: int = 100, save_every: int = 1000,
        num_devices: int = 0, desc: str = "fit", progress: bool = True, weight_decay: float = 0.0,
        log_cfg: dict | None = None) -> nnx.Module:
    """Trains ``module`` to regress targets(frozen, batch) from inputs(frozen, batch); returns it.
    ``log_cfg``: where the metrics go besides metrics.jsonl (configs/common.py ``log_config``)."""
    check_settings(desc, num_steps, batch_size, learning_rate, weight_decay)
    if log_every < 1 or save_every < 1:
        raise ValueError(f"{desc}: log_every and save_every must be >= 1, got {log_every}, {save_every}")
    mesh = sharding.make_mesh(num_devices)
    tx = optim.adam(learning_rate, warmup_steps, num_steps, weight_decay=weight_decay, decoupled=True)  # AdamW
    graphdef, state = nnx.split((module, nnx.Optimizer(module, tx, wrt=nnx.Param)))
    state = sharding.put_replicated(state, mesh)
    frozen = sharding.put_replicated(frozen, mesh) if frozen is not None else None
    data = sampling.place_episodes(source, mesh)
    sample = sampling.make_device_sampler(mesh, batch_size, frame_stack, max_offset=1)
    rng = sharding.put_replicated(jax.random.PRNGKey(seed), mesh)

    @functools.partial(jax.jit, donate_argnums=0)
    def step_fn(carry, frozen, data, step):
        model, opt = nnx.merge(graphdef, carry["state"])
        batch = sample(data, jax.random.fold_in(carry["rng"], step))
        x, y = inputs(frozen, batch), jax.lax.stop_gradient(targets(frozen, batch)).astype(jnp.float32)
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean(jnp.square(m(x).astype(jnp.float32) - y)))(model)
        opt.update(model, grads)
        new_state, health = loop.guard(nnx.state((model, opt)), carry["state"], carry["health"], step, loss)
        return dict(carry, state=new_state, health=health), {"loss": loss}

    train_loop = loop.TrainLoop(workdir, config or {}, mesh, hint="lower the learning rate", log_cfg=log_cfg)
    with train_loop:  # the workdir's lock is released however this ends
        carry, start = train_loop.resume(Carry(state=state, health=loop.new_health(mesh), rng=rng))
        flops = 0.0
        if start < num_steps:  # compiled ahead for XLA's FLOP count (the logs' TFLOP/s and MFU)
            compiled = step_fn.lower(carry, frozen, data, start).compile()
            step_fn, flops = compiled, hardware.compiled_flops(compiled)
        carry, _ = train_loop.run(lambda c, s: step_fn(c, frozen, data, s), carry, start, num_steps,
                                  log_every=log_every, save_every=save_every, batch_size=batch_size, desc=desc,
                                  progress=progress, flops_per_step=flops,
                                  peak_tflops=hardware.peak_tflops((config or {}).get("dtype", "float32"))[0])
    return nnx.merge(graphdef, carry["state"])[0]
