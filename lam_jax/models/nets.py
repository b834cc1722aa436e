"""Convolutional building blocks in the reference's layout (dunnolab/laom ``src/nn.py``).

- ``Encoder``: IMPALA-style stages, each a 3x3 stride-2 conv (padding 1) and pre-activation
  residual blocks; no activation after the last block.
- ``Decoder``: the mirror image, each stage a 2x2 stride-2 transposed conv and residual blocks,
  then GELU, a 1x1 conv and tanh.
- Every conv and linear layer of a model starts orthogonal with gain 1 and a zero bias, as the
  reference's ``weight_init`` does (its fan layout is kept, see ``Upsample2x``); the online probes
  and the action decoder keep torch's default (``torch_default_linear``), as the reference's do.

Images are NHWC. ``dtype`` is the compute dtype (bfloat16 mirrors torch autocast); parameters
stay float32.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

relu6 = jax.nn.relu6


def gelu(x):
    """torch.nn.GELU's default: the exact (erf) form, not the tanh approximation."""
    return jax.nn.gelu(x, approximate=False)


def orthogonal(column_axis: int = -1):
    return nnx.initializers.orthogonal(scale=1.0, column_axis=column_axis)


def conv(cin: int, cout: int, kernel: int, stride: int = 1, *, dtype, rngs: nnx.Rngs) -> nnx.Conv:
    pad = kernel // 2  # torch Conv2d(padding=k//2): symmetric, unlike flax "SAME" at stride 2
    return nnx.Conv(cin, cout, (kernel, kernel), strides=stride, padding=((pad, pad), (pad, pad)),
                    kernel_init=orthogonal(), bias_init=nnx.initializers.zeros, dtype=dtype, rngs=rngs)


def linear(cin: int, cout: int, *, dtype, rngs: nnx.Rngs) -> nnx.Linear:
    return nnx.Linear(cin, cout, kernel_init=orthogonal(), bias_init=nnx.initializers.zeros, dtype=dtype,
                      rngs=rngs)


def torch_default_linear(cin: int, cout: int, *, dtype, rngs: nnx.Rngs) -> nnx.Linear:
    """torch.nn.Linear's own init (weight and bias uniform in +-1/sqrt(fan_in)), which the reference's
    online probes and ``ActionDecoder`` keep: its orthogonal init runs only inside its model classes."""
    bound = 1.0 / cin ** 0.5

    def uniform(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return nnx.Linear(cin, cout, kernel_init=uniform, bias_init=uniform, dtype=dtype, rngs=rngs)


def to_unit_range(frames: jax.Array) -> jax.Array:
    """uint8 [0, 255] -> float32 [-1, 1] (the reference's ``normalize_img``)."""
    return frames.astype(jnp.float32) / 127.5 - 1.0


class ResidualBlock(nnx.Module):
    """x + conv(relu6(conv(relu6(x))))."""

    def __init__(self, channels: int, *, dtype, rngs: nnx.Rngs):
        self.conv1 = conv(channels, channels, 3, dtype=dtype, rngs=rngs)
        self.conv2 = conv(channels, channels, 3, dtype=dtype, rngs=rngs)

    def __call__(self, x):
        return x + self.conv2(relu6(self.conv1(relu6(x))))


class EncoderStage(nnx.Module):
    """3x3 stride-2 conv, then residual blocks."""

    def __init__(self, cin: int, cout: int, num_res_blocks: int, *, dtype, rngs: nnx.Rngs):
        self.down = conv(cin, cout, 3, stride=2, dtype=dtype, rngs=rngs)
        self.res = nnx.List([ResidualBlock(cout, dtype=dtype, rngs=rngs) for _ in range(num_res_blocks)])

    def __call__(self, x):
        return chain([self.down, *self.res], x)


class Encoder(nnx.Module):
    """[B, H, W, C] -> [B, ceil(H/2^n), ceil(W/2^n), channels[-1]]; no final activation."""

    def __init__(self, in_channels: int, channels, num_res_blocks: int = 2, *, dtype=jnp.float32,
                 rngs: nnx.Rngs):
        chans = (in_channels, *channels)
        self.stages = nnx.List([EncoderStage(a, b, num_res_blocks, dtype=dtype, rngs=rngs)
                                for a, b in zip(chans[:-1], chans[1:])])

    def __call__(self, x):
        return chain(self.stages, x)


def rebuilt(module, build):
    """``module``'s weights in the module ``build()`` describes: the same architecture, e.g. computing
    in another dtype (``build`` runs abstractly and allocates nothing)."""
    return nnx.merge(nnx.graphdef(nnx.eval_shape(build)), nnx.state(module))


def chain(layers, x):
    for layer in layers:
        x = layer(x)
    return x


def feature_shape(image_size: int, channels) -> tuple[int, int, int]:
    side = image_size
    for _ in channels:
        side = (side + 1) // 2
    return side, side, channels[-1]


class Upsample2x(nnx.Module):
    """torch ConvTranspose2d(kernel_size=2, stride=2), computed as one matmul and a depth-to-space.

    The 2x2 stride-2 windows do not overlap, so each input pixel maps linearly to its own 2x2
    output block: no zero-dilated convolution (4x the FLOPs) is needed. The kernel is stored as
    [in, 2, 2, out] and initialised orthogonal with the input channels as one side of the matrix,
    as torch's orthogonal_ does on its [in, out, 2, 2] weight.
    """

    def __init__(self, cin: int, cout: int, *, dtype, rngs: nnx.Rngs):
        self.kernel = nnx.Param(orthogonal(column_axis=0)(rngs.params(), (cin, 2, 2, cout), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((cout,), jnp.float32))
        self.dtype = dtype

    def __call__(self, x):
        b, h, w, _ = x.shape
        kernel = self.kernel[...].astype(self.dtype)
        y = jnp.einsum("bhwc,cijo->bhiwjo", x.astype(self.dtype), kernel)
        return y.reshape(b, 2 * h, 2 * w, kernel.shape[-1]) + self.bias[...].astype(self.dtype)


class DecoderStage(nnx.Module):
    def __init__(self, cin: int, cout: int, num_res_blocks: int, *, dtype, rngs: nnx.Rngs):
        self.up = Upsample2x(cin, cout, dtype=dtype, rngs=rngs)
        self.res = nnx.List([ResidualBlock(cout, dtype=dtype, rngs=rngs) for _ in range(num_res_blocks)])

    def __call__(self, x):
        return chain([self.up, *self.res], x)


class Decoder(nnx.Module):
    """Feature map [B, h, w, in] -> image [B, h*2^n, w*2^n, out] in (-1, 1); stages mirror ``channels``."""

    def __init__(self, in_channels: int, channels, out_channels: int, num_res_blocks: int = 2, *,
                 dtype=jnp.float32, rngs: nnx.Rngs):
        chans = (in_channels, *reversed(tuple(channels)))
        self.stages = nnx.List([DecoderStage(a, b, num_res_blocks, dtype=dtype, rngs=rngs)
                                for a, b in zip(chans[:-1], chans[1:])])
        self.out = conv(chans[-1], out_channels, 1, dtype=dtype, rngs=rngs)

    def __call__(self, x):
        return jnp.tanh(self.out(gelu(chain(self.stages, x))))
