"""Finite scalar quantisation (Mentzer et al., 2023) with a straight-through gradient."""
import jax
import jax.numpy as jnp


def fsq(z: jax.Array, levels: int) -> jax.Array:
    """Bounds each dimension with tanh and rounds it to ``levels`` values in [-1, 1]."""
    half = (levels - 1) / 2
    bounded = jnp.tanh(z) * half
    return (bounded + jax.lax.stop_gradient(jnp.round(bounded) - bounded)) / half
