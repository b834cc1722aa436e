"""Downstream networks: the actor (frames -> latent or action) and the latent -> action decoder."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from lam_jax import nets


class Actor(nnx.Module):
    """IMPALA encoder on the frame stack, spatially mean-pooled features, MLP head."""

    def __init__(self, frame_stack: int, out_dim: int, encoder_scale: float = 1.0, hidden_dim: int = 256, *,
                 rngs: nnx.Rngs):
        channels = tuple(int(c * encoder_scale) for c in (16, 32, 32))
        self.encoder = nets.Encoder(3 * frame_stack, channels, dtype=jnp.float32, rngs=rngs)
        self.hidden = nets.linear(channels[-1], hidden_dim, dtype=jnp.float32, rngs=rngs)
        self.out = nets.linear(hidden_dim, out_dim, dtype=jnp.float32, rngs=rngs, scale=1.0)

    def __call__(self, obs):
        pooled = self.encoder(nets.to_unit_range(obs)).mean(axis=(1, 2))
        return self.out(jax.nn.gelu(self.hidden(pooled)))


class ActionDecoder(nnx.Module):
    """Small MLP latent -> action in [-1, 1]."""

    def __init__(self, latent_dim: int, action_dim: int, hidden_dim: int = 256, *, rngs: nnx.Rngs):
        self.norm = nnx.LayerNorm(latent_dim, rngs=rngs)
        self.hidden = nets.linear(latent_dim, hidden_dim, dtype=jnp.float32, rngs=rngs)
        self.out = nets.linear(hidden_dim, action_dim, dtype=jnp.float32, rngs=rngs, scale=1.0)

    def __call__(self, z):
        return jnp.tanh(self.out(jax.nn.gelu(self.hidden(self.norm(z)))))
