"""LAOM's image augmentations in JAX (reference ``src/augmentations.py``, ``Augmenter``).

Every image draws one of 8 pipelines uniformly: nothing, shift, rotate, perspective,
shift-rotate, rotate-shift, rotate-perspective, perspective-rotate. As in the reference:
- shift: the image is edge-padded by ``shift_pad`` px and cropped at a random integer offset,
  drawn per image and per axis (DrQ's random shift, +-14 px at 64 px);
- rotate: edge-padded by ``rotate_pad`` px, rotated by an angle in [-90, 90] degrees about the
  centre (bilinear, zero beyond the padding), centre-cropped;
- perspective: edge-padded by ``perspective_pad`` px, torchvision's RandomPerspective with
  distortion 0.5 (each corner moves inwards by up to half the half-size), centre-cropped.
Warps follow torchvision's tensor kernels: output pixel p samples the padded input at
H(p + 0.5) - 0.5 (``grid_sample`` with ``align_corners=False``), and the zero fill beyond the
padding is blended through a bilinear mask (image sample times mask sample), not cut.
One rotation angle and one perspective are drawn per pipeline and call, shared by the images
that drew that pipeline (torchvision transforms sample once per call). The two stages of a
composite pipeline are applied one after the other. Images are normalised floats ([-1, 1]), so
"zero" fill is mid-grey, as in the reference.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

NONE, SHIFT, ROTATE, PERSPECTIVE = range(4)
# (first stage, second stage) of each pipeline, in the reference's order.
PIPELINES = ((NONE, NONE), (SHIFT, NONE), (ROTATE, NONE), (PERSPECTIVE, NONE), (SHIFT, ROTATE),
             (ROTATE, SHIFT), (ROTATE, PERSPECTIVE), (PERSPECTIVE, ROTATE))
NUM_PIPELINES = len(PIPELINES)
_NO_FILL = 1e9  # padding so large that nothing is zero-filled


@dataclasses.dataclass(frozen=True)
class AugmentSettings:
    shift_pad: int
    rotate_pad: int
    perspective_pad: int
    max_degrees: float = 90.0
    distortion: float = 0.5


def reference_settings(image_size: int) -> AugmentSettings:
    """The reference's pads: 64 px -> shift 14, rotate 17; 128/256 px -> 28, 28; perspective 30.

    Other sizes (the reference refuses them) scale the 64 px pads in proportion.
    """
    if image_size == 64:
        return AugmentSettings(14, 17, 30)
    if image_size in (128, 256):
        return AugmentSettings(28, 28, 30)
    scale = image_size / 64
    return AugmentSettings(round(14 * scale), round(17 * scale), round(30 * scale))


def scaled(settings: AugmentSettings, factor: float) -> AugmentSettings:
    """Every magnitude times ``factor``: shift, rotation angle and perspective distortion (and the
    pads that hold the warped image); 1 leaves the settings as they are."""
    if factor == 1:
        return settings
    if not 0 <= factor <= 1 / settings.distortion:
        raise ValueError(f"model.augment_scale must be in [0, {1 / settings.distortion:g}], got {factor}")
    return AugmentSettings(round(settings.shift_pad * factor), round(settings.rotate_pad * factor),
                           round(settings.perspective_pad * factor), settings.max_degrees * factor,
                           settings.distortion * factor)


def _translate(dx, dy):
    one, zero = jnp.ones_like(dx), jnp.zeros_like(dx)
    return jnp.stack([jnp.stack([one, zero, dx], -1), jnp.stack([zero, one, dy], -1),
                      jnp.stack([zero, zero, one], -1)], -2)


def _rotation_maps(angle_deg, size: int):
    """Output -> input pixel maps of a rotation about the image centre; angle [...]."""
    c = (size - 1) / 2
    theta = jnp.deg2rad(angle_deg)
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    zero, one = jnp.zeros_like(cos), jnp.ones_like(cos)
    inv_rot = jnp.stack([jnp.stack([cos, sin, zero], -1), jnp.stack([-sin, cos, zero], -1),
                         jnp.stack([zero, zero, one], -1)], -2)
    return _translate(c + zero, c + zero) @ inv_rot @ _translate(-c + zero, -c + zero)


def _homography(src, dst):
    """3x3 maps sending the 4 points src [..., 4, 2] to dst [..., 4, 2] (direct linear transform)."""
    x, y = src[..., 0], src[..., 1]
    u, v = dst[..., 0], dst[..., 1]
    zero, one = jnp.zeros_like(x), jnp.ones_like(x)
    rows_u = jnp.stack([x, y, one, zero, zero, zero, -x * u, -y * u], -1)
    rows_v = jnp.stack([zero, zero, zero, x, y, one, -x * v, -y * v], -1)
    a = jnp.concatenate([rows_u, rows_v], -2)  # [..., 8, 8]
    b = jnp.concatenate([u, v], -1)
    h = jnp.linalg.solve(a, b[..., None])[..., 0]
    return jnp.concatenate([h, jnp.ones_like(h[..., :1])], -1).reshape(h.shape[:-1] + (3, 3))


def perspective_map(end, side: int, pad: float):
    """Output -> input map (unpadded pixels) of torchvision's perspective that sends the padded
    image's corners to ``end`` [..., 4, 2]: the padded input is sampled at H(p + 0.5) - 0.5."""
    start = jnp.broadcast_to(jnp.asarray([[0, 0], [side - 1, 0], [side - 1, side - 1], [0, side - 1]],
                                         jnp.float32), end.shape)
    # The output samples the input at the point mapped from end to start.
    padded = _homography(end.astype(jnp.float32), start)
    o = jnp.full(end.shape[:-2], pad + 0.5, jnp.float32)
    return _translate(-o, -o) @ padded @ _translate(o, o)


def _perspective_maps(key, shape, size: int, settings: AugmentSettings):
    """torchvision RandomPerspective.get_params on the padded image; output -> input maps, unpadded."""
    side = size + 2 * settings.perspective_pad
    d = int(settings.distortion * (side // 2))
    lo = lambda k: jax.random.randint(k, shape, 0, d + 1)  # noqa: E731  (inclusive of d, as torch's randint(0, d+1))
    hi = lambda k: jax.random.randint(k, shape, side - d - 1, side)  # noqa: E731
    ks = jax.random.split(key, 8)
    end = jnp.stack([jnp.stack([lo(ks[0]), lo(ks[1])], -1), jnp.stack([hi(ks[2]), lo(ks[3])], -1),
                     jnp.stack([hi(ks[4]), hi(ks[5])], -1), jnp.stack([lo(ks[6]), hi(ks[7])], -1)], -2)
    return perspective_map(end, side, settings.perspective_pad), end


def sample_params(key, batch: int, size: int, settings: AugmentSettings) -> dict:
    """Per-image pipeline, per-stage output -> input maps [B, 2, 3, 3] and padding [B, 2]."""
    k_pipe, k_shift, k_rot, k_persp = jax.random.split(key, 4)
    pipeline = jax.random.randint(k_pipe, (batch,), 0, NUM_PIPELINES)
    ops = jnp.asarray(PIPELINES, jnp.int32)[pipeline]  # [B, 2]
    shift = jax.random.randint(k_shift, (batch, 2, 2), 0, 2 * settings.shift_pad + 1) - settings.shift_pad
    shift_maps = _translate(shift[..., 0].astype(jnp.float32), shift[..., 1].astype(jnp.float32))
    angle = jax.random.uniform(k_rot, (NUM_PIPELINES, 2), minval=-settings.max_degrees, maxval=settings.max_degrees)
    rot_maps = _rotation_maps(angle, size)[pipeline]  # shared by the images of one pipeline
    persp_maps, corners = _perspective_maps(k_persp, (NUM_PIPELINES, 2), size, settings)
    persp_maps = persp_maps[pipeline]
    eye = jnp.broadcast_to(jnp.eye(3), shift_maps.shape)
    is_op = lambda op: (ops == op)[..., None, None]  # noqa: E731
    maps = jnp.where(is_op(SHIFT), shift_maps, jnp.where(is_op(ROTATE), rot_maps,
                                                         jnp.where(is_op(PERSPECTIVE), persp_maps, eye)))
    pad = jnp.where(ops == ROTATE, float(settings.rotate_pad),
                    jnp.where(ops == PERSPECTIVE, float(settings.perspective_pad), _NO_FILL))
    return {"pipeline": pipeline, "maps": maps, "pad": pad, "shift": shift, "angle": angle,
            "corners": corners}


def warp(images: jax.Array, maps: jax.Array, pad: jax.Array) -> jax.Array:
    """Bilinear resampling: output pixel p takes the input at maps @ p, edge-replicated up to
    ``pad`` px outside the image and zero beyond; as torchvision with a fill, the zero-filled
    sample is multiplied by the bilinear sample of a mask of ones (zero beyond the padding).
    images [B, H, W, C]; maps [B, 3, 3]; pad [B]."""
    b, h, w, c = images.shape
    ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
    grid = jnp.stack([xs, ys, jnp.ones_like(xs)], -1).reshape(-1, 3)
    src = jnp.einsum("bij,pj->bpi", maps, grid)
    x, y = src[..., 0] / src[..., 2], src[..., 1] / src[..., 2]  # [B, HW]
    x0, y0 = jnp.floor(x), jnp.floor(y)
    wx, wy = x - x0, y - y0
    flat = images.reshape(b, h * w, c)
    lo, hi_y, hi_x = -pad[:, None], h - 1 + pad[:, None], w - 1 + pad[:, None]

    def tap(yy, xx):
        """(pixel, 1) inside the padded image, (0, 0) beyond it."""
        valid = ((xx >= lo) & (xx <= hi_x) & (yy >= lo) & (yy <= hi_y)).astype(images.dtype)
        idx = jnp.clip(yy, 0, h - 1).astype(jnp.int32) * w + jnp.clip(xx, 0, w - 1).astype(jnp.int32)
        return jnp.take_along_axis(flat, idx[..., None], axis=1) * valid[..., None], valid

    taps = [(tap(y0, x0), (1 - wy) * (1 - wx)), (tap(y0, x0 + 1), (1 - wy) * wx),
            (tap(y0 + 1, x0), wy * (1 - wx)), (tap(y0 + 1, x0 + 1), wy * wx)]
    value = sum(t[0] * wt[..., None] for t, wt in taps)
    mask = sum(t[1] * wt for t, wt in taps)
    return (value * mask[..., None]).reshape(b, h, w, c).astype(images.dtype)


def apply(images: jax.Array, params: dict) -> jax.Array:
    for stage in range(2):
        images = warp(images, params["maps"][:, stage], params["pad"][:, stage])
    return images


def augment(key, images: jax.Array, settings: AugmentSettings | None = None) -> jax.Array:
    """One call of the reference's Augmenter on normalised images [B, H, W, C] (square)."""
    b, h, w, _ = images.shape
    if h != w:
        raise ValueError(f"augmentations need square images, got {h}x{w}")
    settings = settings or reference_settings(h)
    return apply(images, sample_params(key, b, h, settings))
