"""Finite scalar quantisation (Mentzer et al., 2023) with a straight-through gradient.

As in vector_quantize_pytorch's FSQ (which the reference's LAPO-FSQ uses): an even number of
levels L gets a half-step offset, so every L yields exactly L codes per dimension.
"""
import jax
import jax.numpy as jnp


def fsq(z: jax.Array, levels: int, eps: float = 1e-3) -> jax.Array:
    """Each dimension bounded and rounded to one of ``levels`` values, scaled into [-1, 1]."""
    if levels < 2:
        raise ValueError(f"FSQ needs at least 2 levels, got {levels}")
    half_l = (levels - 1) * (1 + eps) / 2
    offset = 0.5 if levels % 2 == 0 else 0.0
    shift = jnp.arctanh(offset / half_l)
    bounded = jnp.tanh(z.astype(jnp.float32) + shift) * half_l - offset
    rounded = bounded + jax.lax.stop_gradient(jnp.round(bounded) - bounded)
    return rounded / (levels // 2)
