"""Per-image random augmentations in JAX: none, shift, rotate, perspective and their compositions.

Each image draws one of the 8 subsets of {shift, rotate, perspective}; the chosen transforms are
composed into one homography and applied with bilinear sampling (edge pixels replicated).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

NUM_COMBINATIONS = 8  # subsets of {shift, rotate, perspective}


def random_homographies(key, batch: int, max_shift: float = 0.1, max_angle_deg: float = 10.0,
                        max_perspective: float = 0.1, combo: jax.Array | None = None) -> jax.Array:
    """[B, 3, 3] maps in normalised coordinates ([-1, 1]); ``combo`` bit 0 shift, 1 rotate, 2 perspective."""
    k_combo, k_shift, k_rot, k_persp = jax.random.split(key, 4)
    if combo is None:
        combo = jax.random.randint(k_combo, (batch,), 0, NUM_COMBINATIONS)
    use = lambda bit: ((combo >> bit) & 1).astype(jnp.float32)[:, None]  # noqa: E731
    shift = jax.random.uniform(k_shift, (batch, 2), minval=-max_shift, maxval=max_shift) * use(0)
    angle = jnp.deg2rad(jax.random.uniform(k_rot, (batch,), minval=-max_angle_deg, maxval=max_angle_deg)) * use(1)[:, 0]
    persp = jax.random.uniform(k_persp, (batch, 2), minval=-max_perspective, maxval=max_perspective) * use(2)
    c, s = jnp.cos(angle), jnp.sin(angle)
    zero, one = jnp.zeros_like(c), jnp.ones_like(c)
    translate = jnp.stack([jnp.stack([one, zero, shift[:, 0]], -1),
                           jnp.stack([zero, one, shift[:, 1]], -1),
                           jnp.stack([zero, zero, one], -1)], 1)
    rotate = jnp.stack([jnp.stack([c, -s, zero], -1), jnp.stack([s, c, zero], -1),
                        jnp.stack([zero, zero, one], -1)], 1)
    perspective = jnp.stack([jnp.stack([one, zero, zero], -1), jnp.stack([zero, one, zero], -1),
                             jnp.stack([persp[:, 0], persp[:, 1], one], -1)], 1)
    return translate @ rotate @ perspective


def warp(images: jax.Array, homographies: jax.Array) -> jax.Array:
    """Output pixel p samples the input at H^-1 p. images [B, H, W, C] float, H [B, 3, 3]."""
    b, h, w, _ = images.shape
    ys, xs = jnp.meshgrid(jnp.linspace(-1, 1, h), jnp.linspace(-1, 1, w), indexing="ij")
    grid = jnp.stack([xs, ys, jnp.ones_like(xs)], -1).reshape(-1, 3)  # [HW, 3]
    src = jnp.einsum("bij,pj->bpi", jnp.linalg.inv(homographies), grid)
    src = src[..., :2] / src[..., 2:3]
    x = (src[..., 0] + 1) * (w - 1) / 2
    y = (src[..., 1] + 1) * (h - 1) / 2

    def sample(img, x, y):
        x0, y0 = jnp.floor(x), jnp.floor(y)
        wx, wy = (x - x0)[:, None], (y - y0)[:, None]
        xi = lambda v: jnp.clip(v, 0, w - 1).astype(jnp.int32)  # noqa: E731
        yi = lambda v: jnp.clip(v, 0, h - 1).astype(jnp.int32)  # noqa: E731
        top = img[yi(y0), xi(x0)] * (1 - wx) + img[yi(y0), xi(x0 + 1)] * wx
        bottom = img[yi(y0 + 1), xi(x0)] * (1 - wx) + img[yi(y0 + 1), xi(x0 + 1)] * wx
        return (top * (1 - wy) + bottom * wy).reshape(h, w, -1)

    return jax.vmap(sample)(images, x, y).astype(images.dtype)


def augment(key, images: jax.Array, **kwargs) -> jax.Array:
    """Independent random augmentation per image (all channels of a frame stack move together)."""
    return warp(images, random_homographies(key, images.shape[0], **kwargs))
