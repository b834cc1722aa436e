"""Network building blocks: IMPALA-style encoder, conv-transpose decoder, re-injecting residual MLP."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

relu6 = jax.nn.relu6


def orthogonal(scale: float = math.sqrt(2)):
    return nnx.initializers.orthogonal(scale)


# Orthogonal gains: 1 for convs and 0.1 for each residual branch's last conv. With sqrt(2) the
# un-normalised residual stream grows until ReLU6 saturates and the encoder stops learning.
CONV_GAIN, RESIDUAL_GAIN = 1.0, 0.1


def conv(cin, cout, k, stride=1, *, dtype, rngs, scale=CONV_GAIN):
    return nnx.Conv(cin, cout, (k, k), strides=stride, padding="SAME", kernel_init=orthogonal(scale),
                    bias_init=nnx.initializers.zeros, dtype=dtype, rngs=rngs)


def linear(cin, cout, *, dtype, rngs, scale=math.sqrt(2)):
    return nnx.Linear(cin, cout, kernel_init=orthogonal(scale), bias_init=nnx.initializers.zeros,
                      dtype=dtype, rngs=rngs)


def to_unit_range(frames: jax.Array, dtype=jnp.float32) -> jax.Array:
    """uint8 [0, 255] -> [-1, 1]."""
    return frames.astype(dtype) / 127.5 - 1.0


class ResidualBlock(nnx.Module):
    def __init__(self, ch: int, *, dtype, rngs: nnx.Rngs):
        self.conv1 = conv(ch, ch, 3, dtype=dtype, rngs=rngs)
        self.conv2 = conv(ch, ch, 3, dtype=dtype, rngs=rngs, scale=RESIDUAL_GAIN)

    def __call__(self, x):
        return x + self.conv2(relu6(self.conv1(relu6(x))))


class EncoderBlock(nnx.Module):
    """3x3 stride-2 conv, then two residual blocks."""

    def __init__(self, cin: int, cout: int, *, dtype, rngs: nnx.Rngs):
        self.down = conv(cin, cout, 3, stride=2, dtype=dtype, rngs=rngs)
        self.res1 = ResidualBlock(cout, dtype=dtype, rngs=rngs)
        self.res2 = ResidualBlock(cout, dtype=dtype, rngs=rngs)

    def __call__(self, x):
        return self.res2(self.res1(self.down(x)))


class Encoder(nnx.Module):
    """IMPALA-style ResNet: [B, H, W, C] in [-1, 1] -> feature map [B, H/2^n, W/2^n, channels[-1]]."""

    def __init__(self, in_channels: int, channels=(16, 32, 32), *, dtype=jnp.float32, rngs: nnx.Rngs):
        chans = (in_channels,) + tuple(channels)
        self.blocks = nnx.List([EncoderBlock(a, b, dtype=dtype, rngs=rngs) for a, b in zip(chans[:-1], chans[1:])])

    def __call__(self, x):
        for block in self.blocks:
            x = block(x)
        return relu6(x)


def feature_shape(image_size: int, channels) -> tuple[int, int, int]:
    side = image_size
    for _ in channels:
        side = (side + 1) // 2
    return side, side, channels[-1]


class Decoder(nnx.Module):
    """Feature map -> image: conv-transpose upsampling stages mirroring the encoder, tanh output."""

    def __init__(self, channels, out_channels: int, *, dtype, rngs: nnx.Rngs):
        chans = tuple(reversed(channels))
        ups = []
        for a, b in zip(chans, chans[1:] + (chans[-1],)):
            ups.append(nnx.ConvTranspose(a, b, (4, 4), strides=(2, 2), padding="SAME", kernel_init=orthogonal(),
                                         bias_init=nnx.initializers.zeros, dtype=dtype, rngs=rngs))
        self.ups = nnx.List(ups)
        self.res = nnx.List([ResidualBlock(c, dtype=dtype, rngs=rngs) for c in chans[1:] + (chans[-1],)])
        self.out = conv(chans[-1], out_channels, 3, dtype=dtype, rngs=rngs)

    def __call__(self, x):
        for up, res in zip(self.ups, self.res):
            x = res(relu6(up(x)))
        return jnp.tanh(self.out(relu6(x)))


class ReinjectMLP(nnx.Module):
    """Residual MLP whose every block sees the original inputs again (LAOM's IDM/FDM heads)."""

    def __init__(self, in_dim: int, width: int, out_dim: int, num_blocks: int = 3, *, dtype, rngs: nnx.Rngs):
        self.inp = linear(in_dim, width, dtype=dtype, rngs=rngs)
        self.norms = nnx.List([nnx.LayerNorm(width + in_dim, dtype=dtype, rngs=rngs) for _ in range(num_blocks)])
        self.hidden = nnx.List([linear(width + in_dim, width, dtype=dtype, rngs=rngs) for _ in range(num_blocks)])
        self.proj = nnx.List([linear(width, width, dtype=dtype, rngs=rngs, scale=0.1) for _ in range(num_blocks)])
        self.out_norm = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)
        self.out = linear(width, out_dim, dtype=dtype, rngs=rngs, scale=1.0)

    def __call__(self, x):
        h = self.inp(x)
        for norm, hidden, proj in zip(self.norms, self.hidden, self.proj):
            h = h + proj(jax.nn.gelu(hidden(norm(jnp.concatenate([h, x], -1)))))
        return self.out(self.out_norm(h))
