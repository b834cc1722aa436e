"""Finite scalar quantisation (Mentzer et al., 2023) with a straight-through gradient.

As in vector_quantize_pytorch's FSQ (which the reference's LAPO-FSQ uses): an even number of
levels L gets a half-step offset, so every L yields exactly L codes per dimension.
"""
import jax
import jax.numpy as jnp
import numpy as np


def fsq(z: jax.Array, levels, eps: float = 1e-3) -> jax.Array:
    """Each dimension bounded and rounded to one of ``levels`` values, scaled into [-1, 1]. ``levels``:
    one count for every dimension, or one per dimension of the last axis (the reference's FSQ
    default is (2, 2, 4))."""
    per_dim = np.atleast_1d(np.asarray(levels, np.int64))
    if per_dim.ndim != 1 or per_dim.min() < 2:
        raise ValueError(f"FSQ needs at least 2 levels per dimension, got {levels}")
    if per_dim.size > 1 and per_dim.size != z.shape[-1]:
        raise ValueError(f"FSQ got {per_dim.size} level counts for {z.shape[-1]} dimensions")
    half_l = (per_dim - 1) * (1 + eps) / 2
    offset = np.where(per_dim % 2 == 0, 0.5, 0.0)
    shift = np.arctanh(offset / half_l)
    bounded = jnp.tanh(z.astype(jnp.float32) + shift.astype(np.float32)) * half_l.astype(np.float32) - offset
    rounded = bounded + jax.lax.stop_gradient(jnp.round(bounded) - bounded)
    return rounded / (per_dim // 2).astype(np.float32)


def num_levels(levels) -> tuple[int, ...]:
    """Config value (0: off; an int; a tuple per dimension) -> a tuple of counts, () when off."""
    if isinstance(levels, (tuple, list)):
        return tuple(int(x) for x in levels)
    return () if int(levels) == 0 else (int(levels),)
