"""Downstream networks (reference ``src/nn.py``: ``Actor``, ``ActionDecoder``).

- Actor: the IMPALA encoder on the frame stack, spatial mean-pool, ReLU6, one linear layer to a
  latent action (BC on latents) or to an action (BC on IDM labels, BC from scratch).
- ActionDecoder: latent -> 256 -> 256 -> action with ReLU6 and no output squashing (the
  environment clips).
"""
from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from lam_jax.models import nets

ACTOR_CHANNELS = (16, 32, 32)  # encoder_deep: False


class Actor(nnx.Module):
    def __init__(self, frame_stack: int, out_dim: int, encoder_scale: float = 32.0, num_res_blocks: int = 2, *,
                 dtype=jnp.float32, rngs: nnx.Rngs):
        channels = tuple(max(1, int(c * encoder_scale)) for c in ACTOR_CHANNELS)
        self.encoder = nets.Encoder(3 * frame_stack, channels, num_res_blocks, dtype=dtype, rngs=rngs)
        self.out = nets.linear(channels[-1], out_dim, dtype=dtype, rngs=rngs)

    def features(self, obs):
        """Mean-pooled encoder features of uint8 stacks (the reference's second output)."""
        return self.encoder(nets.to_unit_range(obs)).astype(jnp.float32).mean(axis=(1, 2))

    def __call__(self, obs):
        return self.out(nets.relu6(self.features(obs))).astype(jnp.float32)


class ActionDecoder(nnx.Module):
    def __init__(self, latent_dim: int, action_dim: int, hidden_dim: int = 256, *, dtype=jnp.float32,
                 rngs: nnx.Rngs):
        # torch's default Linear init, as the reference's (its orthogonal init never reaches this class)
        self.fc1 = nets.torch_default_linear(latent_dim, hidden_dim, dtype=dtype, rngs=rngs)
        self.fc2 = nets.torch_default_linear(hidden_dim, hidden_dim, dtype=dtype, rngs=rngs)
        self.out = nets.torch_default_linear(hidden_dim, action_dim, dtype=dtype, rngs=rngs)

    def __call__(self, z):
        return self.out(nets.relu6(self.fc2(nets.relu6(self.fc1(z))))).astype(jnp.float32)
