"""The reference's optimisation: torch Adam(W) under ``linear_annealing_with_warmup`` (``src/scheduler.py``)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def linear_warmup_decay(peak: float, warmup_steps: int, total_steps: int) -> optax.Schedule:
    """0 -> peak linearly over ``warmup_steps`` updates, then linearly to 0 at ``total_steps``."""
    warmup, total = int(warmup_steps), int(total_steps)

    def schedule(count):
        count = jnp.asarray(count, jnp.float32)
        warm = count / max(warmup, 1)
        decay = 1.0 - (count - warmup) / max(total - warmup, 1)
        return peak * jnp.where(count < warmup, warm, jnp.clip(decay, 0.0, 1.0))

    return schedule


def adam(learning_rate: float, warmup_steps: int, total_steps: int, *, grad_clip: float = 0.0,
         weight_decay: float = 0.0, decoupled: bool = False) -> optax.GradientTransformation:
    """The reference's Adam under its schedule, optionally after global-norm clipping. Weight decay
    applies to >= 2-D weights (``get_optim_groups``): added to the gradient as torch.optim.Adam does
    (pretraining), or ``decoupled`` as torch.optim.AdamW does (the downstream stages): each weight
    shrinks by lr * weight_decay outside Adam's moments. Without weight decay both are plain Adam."""
    schedule = linear_warmup_decay(learning_rate, warmup_steps, total_steps)
    parts = []
    if grad_clip > 0:
        parts.append(optax.clip_by_global_norm(grad_clip))
    if weight_decay > 0 and decoupled:
        parts.append(optax.adamw(schedule, weight_decay=weight_decay, mask=_matrices))
        return optax.chain(*parts)
    if weight_decay > 0:
        parts.append(optax.add_decayed_weights(weight_decay, mask=_matrices))
    parts.append(optax.adam(schedule))
    return optax.chain(*parts)


def _matrices(params):
    return jax.tree.map(lambda x: x.ndim >= 2, params)
