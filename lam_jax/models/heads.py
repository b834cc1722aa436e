"""LAOM's MLP heads (reference ``src/nn.py``: ``MLPBlock``, ``LatentActHead``, ``LatentObsHead``).

Each head is proj_0 -> block_0 -> [proj_i([h, reinjected]) -> block_i]... -> proj_end, where a
block is post-LayerNorm: norm(x + W2 relu6(W1 x)) with 4x expansion. The IDM head re-feeds the
two embeddings at every projection; the FDM head re-feeds only the latent action.
"""
from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from lam_jax.models import nets

LAYER_NORM_EPS = 1e-5  # torch.nn.LayerNorm's default


def layer_norm(dim: int, *, affine: bool = True, rngs: nnx.Rngs) -> nnx.LayerNorm:
    # float32 statistics and output, as torch autocast runs layer_norm
    return nnx.LayerNorm(dim, epsilon=LAYER_NORM_EPS, use_scale=affine, use_bias=affine, dtype=jnp.float32,
                         rngs=rngs)


class MLPBlock(nnx.Module):
    def __init__(self, dim: int, expand: int = 4, *, dtype, rngs: nnx.Rngs):
        self.fc1 = nets.linear(dim, expand * dim, dtype=dtype, rngs=rngs)
        self.fc2 = nets.linear(expand * dim, dim, dtype=dtype, rngs=rngs)
        self.norm = layer_norm(dim, rngs=rngs)

    def __call__(self, x):
        return self.norm(x + self.fc2(nets.relu6(self.fc1(x))))


class ReinjectHead(nnx.Module):
    """``num_blocks`` projection + block pairs; projections after the first also see ``reinjected``."""

    def __init__(self, in_dim: int, reinject_dim: int, hidden_dim: int, out_dim: int, num_blocks: int = 3,
                 expand: int = 4, *, dtype, rngs: nnx.Rngs):
        self.projs = nnx.List([nets.linear(in_dim if i == 0 else hidden_dim + reinject_dim, hidden_dim,
                                           dtype=dtype, rngs=rngs) for i in range(num_blocks)])
        self.blocks = nnx.List([MLPBlock(hidden_dim, expand, dtype=dtype, rngs=rngs) for _ in range(num_blocks)])
        self.proj_end = nets.linear(hidden_dim, out_dim, dtype=dtype, rngs=rngs)

    def __call__(self, inputs, reinjected):
        x = self.blocks[0](self.projs[0](inputs))
        for proj, block in zip(self.projs[1:], self.blocks[1:]):
            x = block(proj(jnp.concatenate([x, reinjected], -1)))
        return self.proj_end(x)


def latent_act_head(emb_dim: int, hidden_dim: int, latent_dim: int, *, dtype, rngs) -> ReinjectHead:
    """IDM head [e_t, e_{t+k}] -> z (reference ``LatentActHead``)."""
    return ReinjectHead(2 * emb_dim, 2 * emb_dim, hidden_dim, latent_dim, dtype=dtype, rngs=rngs)


def latent_obs_head(emb_dim: int, hidden_dim: int, latent_dim: int, *, dtype, rngs) -> ReinjectHead:
    """FDM head [e_t, z] -> predicted e_{t+1}, re-fed z only (reference ``LatentObsHead``)."""
    return ReinjectHead(emb_dim + latent_dim, latent_dim, hidden_dim, emb_dim, dtype=dtype, rngs=rngs)
