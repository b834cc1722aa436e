"""A jitted regression trainer shared by the downstream stages (BC, decoder, BC from scratch).

Episodes live on device (split along the data axis) and transitions (o_t, o_{t+1}) are sampled
on device, as in pretraining; ``targets(frozen, batch)`` computes the regression targets inside
the step from a frozen model's state (e.g. the LAM's latent actions), ``inputs(frozen, batch)``
what the trained module sees. The reference's schedule (Adam, linear decay to zero), resume and
divergence handling come from ``lam_jax.training.optim`` and ``lam_jax.training.loop``.
"""
from __future__ import annotations

import dataclasses
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


@dataclasses.dataclass(frozen=True)
class FitSettings:
    """How one regression trains: its schedule, sampling, logging and devices. ``config`` is the run's
    description saved in config.json (its "dtype" names the peak rate the logs' MFU uses); ``log``
    where metrics go besides metrics.jsonl (configs/common.py ``log_config``)."""
    num_steps: int
    batch_size: int
    learning_rate: float
    frame_stack: int
    warmup_steps: int = 0
    weight_decay: float = 0.0
    seed: int = 0
    log_every: int = 100
    save_every: int = 1000
    num_devices: int = 0
    desc: str = "fit"
    config: dict = dataclasses.field(default_factory=dict)
    log: dict | None = None

    def check(self) -> "FitSettings":
        check_settings(self.desc, self.num_steps, self.batch_size, self.learning_rate, self.weight_decay)
        if self.log_every < 1 or self.save_every < 1:
            raise ValueError(f"{self.desc}: log_every and save_every must be >= 1, got {self.log_every}, "
                             f"{self.save_every}")
        return self


def fit(module: nnx.Module, source, settings: FitSettings, *, inputs: Callable, targets: Callable, frozen=None,
        workdir: str | None, progress: bool = True) -> nnx.Module:
    """Trains ``module`` to regress targets(frozen, batch) from inputs(frozen, batch) on ``source``'s
    transitions; returns it."""
    st = settings.check()
    mesh = sharding.make_mesh(st.num_devices)
    tx = optim.adam(st.learning_rate, st.warmup_steps, st.num_steps, weight_decay=st.weight_decay,
                    decoupled=True)  # AdamW
    graphdef, state = nnx.split((module, nnx.Optimizer(module, tx, wrt=nnx.Param)))
    state = sharding.put_replicated(state, mesh)
    frozen = sharding.put_replicated(frozen, mesh) if frozen is not None else None
    data = sampling.place_episodes(source, mesh)
    sample = sampling.make_device_sampler(mesh, st.batch_size, st.frame_stack, max_offset=1)
    rng = sharding.put_replicated(jax.random.PRNGKey(st.seed), mesh)

    @functools.partial(jax.jit, donate_argnums=0)
    def step_fn(carry, frozen, data, step):
        model, opt = nnx.merge(graphdef, carry["state"])
        batch = sample(data, jax.random.fold_in(carry["rng"], step))
        x, y = inputs(frozen, batch), jax.lax.stop_gradient(targets(frozen, batch)).astype(jnp.float32)
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean(jnp.square(m(x).astype(jnp.float32) - y)))(model)
        opt.update(model, grads)
        new_state, health = loop.guard(nnx.state((model, opt)), carry["state"], carry["health"], step, loss)
        return dict(carry, state=new_state, health=health), {"loss": loss}

    train_loop = loop.TrainLoop(workdir, st.config, mesh, hint="lower the learning rate", log_cfg=st.log)
    with train_loop:  # the workdir's lock is released however this ends
        carry, start = train_loop.resume(Carry(state=state, health=loop.new_health(mesh), rng=rng))
        flops = 0.0
        if start < st.num_steps:  # compiled ahead for XLA's FLOP count (the logs' TFLOP/s and MFU)
            compiled = step_fn.lower(carry, frozen, data, start).compile()
            step_fn, flops = compiled, hardware.compiled_flops(compiled)
        carry, _ = train_loop.run(lambda c, s: step_fn(c, frozen, data, s), carry, start, st.num_steps,
                                  log_every=st.log_every, save_every=st.save_every, batch_size=st.batch_size,
                                  desc=st.desc, progress=progress, flops_per_step=flops,
                                  peak_tflops=hardware.peak_tflops(st.config.get("dtype", "float32"))[0])
    return nnx.merge(graphdef, carry["state"])[0]
