"""The reference's PyTorch parameters in lam-jax's NNX modules (dunnolab/laom ``src/nn.py`` names).

``convert(kind, name, value, feature_shape)`` is the one mapping: it takes a torch parameter, or
anything laid out like one (its gradient, an Adam moment, its value after an update), by its
``state_dict`` name, and returns the NNX path and the array in our layout. ``load`` writes a
whole ``{name: array}`` dict into a module through it and checks that every parameter was set.

Layouts (torch -> lam-jax):

- ``nn.Conv2d`` weight [O, I, kh, kw] -> ``nnx.Conv`` kernel [kh, kw, I, O] (OIHW -> HWIO);
- ``nn.ConvTranspose2d`` weight [I, O, 2, 2] -> ``nets.Upsample2x`` kernel [I, 2, 2, O]
  (input pixel (h, w) adds ``x @ W[:, :, i, j]`` at output (2h + i, 2w + j) in both);
- ``nn.Linear`` weight [O, I] -> ``nnx.Linear`` kernel [I, O]; biases unchanged;
- ``nn.LayerNorm`` weight, bias -> ``nnx.LayerNorm`` scale, bias;
- flattened feature maps: torch flattens an NCHW map in (C, H, W) order, we flatten an NHWC map
  in (H, W, C) order. Every linear layer that reads a flattened encoder map (LAPO's IDM output
  layer, the LAOM/IDM heads' projections that take e_t and e_{t+k}, the FDM head's first
  projection, the embedding probes) has the rows of that block permuted; every layer that writes
  one (LAPO's ``act_proj``, the FDM head's ``proj_end``) has its columns and bias permuted.
  ``chw_to_hwc`` does the same for activations (embeddings, predicted embeddings).

``kind`` names the reference class: ``laom`` (``LAOM``), ``laom_labels`` (``LAOMWithLabels``),
``lapo`` (``LAPO``), ``idm`` (``IDMLabels``), ``actor`` (``Actor``), ``action_decoder``
(``ActionDecoder``). The training scripts keep the online probes and LAOM's EMA target outside
the model; they are named here as the scripts name them: ``state_probe.*``, ``act_linear_probe.*``,
``state_act_linear_probe.*`` (LAOM, IDM), ``linear_probe.*`` (LAPO) and ``target.encoder.*``
(LAOM's ``target_lapo.encoder``). ``feature_shape`` is our (H, W, C) of the encoder output
(``nets.feature_shape``); only models with flattened maps need it.
"""

from __future__ import annotations

import re

import jax.numpy as jnp
import numpy as np
from flax import nnx

KINDS = ("laom", "laom_labels", "lapo", "idm", "actor", "action_decoder")
LEAF = {"weight": "kernel", "bias": "bias"}
# script variable -> (our probe name, reads a flattened map)
PROBES = {"state_probe": ("embedding_state", True), "act_linear_probe": ("latent_action", False),
          "state_act_linear_probe": ("embedding_action", True), "linear_probe": ("latent_action", False)}


def _no_map(i, n):
    """Where a flattened (C, H, W) map of n features starts among a layer's i inputs: nowhere."""
    return ()


def _first_map(i, n):
    return (0,)


def _last_two_maps(i, n):
    return (i - 2 * n, i - n)


def chw_to_hwc(x, feature_shape, axis: int = -1, offset: int = 0):
    """Reorders the (C, H, W)-flattened block of ``axis`` starting at ``offset`` into (H, W, C) order."""
    h, w, c = feature_shape
    x = np.asarray(x)
    axis = axis % x.ndim
    n = h * w * c
    block = np.take(x, np.arange(offset, offset + n), axis=axis)
    shape = block.shape[:axis] + (c, h, w) + block.shape[axis + 1 :]
    block = np.moveaxis(block.reshape(shape), axis, axis + 2).reshape(x.shape[:axis] + (n,) + x.shape[axis + 1 :])
    out = x.copy()
    index = [slice(None)] * x.ndim
    index[axis] = slice(offset, offset + n)
    out[tuple(index)] = block
    return out


def _encoder(rest, first: str = "down", layer: str = "conv"):
    """An encoder Sequential's EncoderBlock parameter -> (path, 'conv'); LAPO's decoder stages too
    (``first`` 'up', a transposed ``layer``)."""
    m = re.fullmatch(r"(\d+)\.conv\.(weight|bias)", rest)
    if m:
        return ("stages", int(m[1]), first, LEAF[m[2]]), layer
    m = re.fullmatch(r"(\d+)\.blocks\.(\d+)\.block\.([25])\.(weight|bias)", rest)
    if m:
        return ("stages", int(m[1]), "res", int(m[2]), "conv1" if m[3] == "2" else "conv2", LEAF[m[4]]), "conv"
    return None


def _head(rest, reinjects_maps: bool):
    """LatentActHead (``reinjects_maps``: every projection reads [.., e_t, e_{t+k}]) or LatentObsHead
    (proj0 reads [e_t, z], proj_end writes a map) -> (path, layer, rows, out_map)."""
    m = re.fullmatch(r"proj(\d+|_end)\.(weight|bias)", rest)
    if m:
        if m[1] == "_end":
            return ("proj_end", LEAF[m[2]]), "linear", _no_map, not reinjects_maps
        idx = int(m[1])  # reinjects: the last 2n inputs are e_t, e_{t+k}
        rows = _last_two_maps if reinjects_maps else (_first_map if idx == 0 else _no_map)
        return ("projs", idx, LEAF[m[2]]), "linear", rows, False
    m = re.fullmatch(r"block(\d+)\.mlp\.([02])\.(weight|bias)", rest)
    if m:
        return ("blocks", int(m[1]), "fc1" if m[2] == "0" else "fc2", LEAF[m[3]]), "linear", _no_map, False
    m = re.fullmatch(r"block(\d+)\.norm\.(weight|bias)", rest)
    if m:
        return ("blocks", int(m[1]), "norm", "scale" if m[2] == "weight" else "bias"), "norm", None, False
    return None


def _rule(kind: str, name: str):
    """(path, layer, rows, out_map) of a torch parameter name; layer in conv, conv_transpose, linear, norm."""
    prefix, _, rest = name.partition(".")
    if prefix in PROBES and re.fullmatch(r"weight|bias", rest):
        probe, reads_map = PROBES[prefix]
        return ("probes", probe, LEAF[rest]), "linear", _first_map if reads_map else _no_map, False
    if kind in ("laom", "laom_labels", "idm", "actor"):
        if prefix == "target" and kind in ("laom", "laom_labels") and rest.startswith("encoder."):
            found = _encoder(rest[len("encoder.") :])
            return (("target_encoder",) + found[0], found[1], None, False) if found else None
        if prefix == "encoder":
            found = _encoder(rest)
            return (("encoder",) + found[0], found[1], None, False) if found else None
    if kind in ("laom", "laom_labels", "idm"):
        heads = {"act_head": ("idm_head", True), "obs_head": ("fdm_head", False), "idm_head": ("idm_head", True),
                 "fdm_head": ("fdm_head", False)}
        if prefix in heads:
            ours, reinjects = heads[prefix]
            found = _head(rest, reinjects)
            return ((ours,) + found[0],) + found[1:] if found else None
        if kind == "laom_labels" and prefix == "true_actions_head" and rest in LEAF:
            return ("true_action_head", LEAF[rest]), "linear", _no_map, False
    if kind == "actor":
        m = re.fullmatch(r"actor_mean\.1\.(weight|bias)", name)
        if m:
            return ("out", LEAF[m[1]]), "linear", _no_map, False
    if kind == "action_decoder":
        m = re.fullmatch(r"model\.([024])\.(weight|bias)", name)
        if m:
            return ({"0": "fc1", "2": "fc2", "4": "out"}[m[1]], LEAF[m[2]]), "linear", _no_map, False
    if kind == "lapo":
        m = re.fullmatch(r"(idm|fdm)\.encoder\.(.+)", name)
        if m:
            found = _encoder(m[2])
            if found:
                return (f"{m[1]}_encoder",) + found[0], found[1], None, False
            out = re.fullmatch(r"\d+\.(weight|bias)", m[2])
            if m[1] == "idm" and out:  # Flatten, GELU, Linear(map -> latent)
                return ("idm_out", LEAF[out[1]]), "linear", _first_map, False
        m = re.fullmatch(r"fdm\.act_proj\.(weight|bias)", name)
        if m:
            return ("act_proj", LEAF[m[1]]), "linear", _no_map, True
        m = re.fullmatch(r"fdm\.decoder\.(.+)", name)
        found = _encoder(m[1], "up", "conv_transpose") if m else None
        if found:
            return ("decoder",) + found[0], found[1], None, False
        m = re.fullmatch(r"fdm\.decoder\.\d+\.(weight|bias)", name)  # GELU, 1x1 Conv2d, Tanh
        if m:
            return ("decoder", "out", LEAF[m[1]]), "conv", None, False
    return None


def convert(kind: str, name: str, value, feature_shape=None) -> tuple[tuple, np.ndarray]:
    """(NNX path, array in our layout) of the reference parameter ``name`` of a ``kind`` model."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    rule = _rule(kind, name)
    if rule is None:
        raise KeyError(f"no lam-jax parameter for the reference's {kind} parameter {name!r}")
    path, layer, rows, out_map = rule
    value = np.asarray(value)
    if path[-1] in ("bias", "scale") or layer == "norm":
        return path, (chw_to_hwc(value, feature_shape) if layer == "linear" and out_map else value)
    if layer in ("conv", "conv_transpose"):  # OIHW -> HWIO; [I, O, 2, 2] -> [I, 2, 2, O]
        return path, np.transpose(value, (2, 3, 1, 0) if layer == "conv" else (0, 2, 3, 1))
    n = int(np.prod(feature_shape)) if feature_shape is not None else 0
    offsets = rows(value.shape[1], n)
    if (offsets or out_map) and feature_shape is None:
        raise ValueError(f"{kind} parameter {name!r} touches a flattened feature map: give feature_shape")
    k = np.transpose(value)  # [O, I] -> [I, O], then the flattened-map blocks of the input rows and the output
    for offset in offsets:
        k = chw_to_hwc(k, feature_shape, axis=0, offset=offset)
    return path, (chw_to_hwc(k, feature_shape, axis=1) if out_map else k)


def params_of(module) -> dict:
    """{NNX path: nnx.Param} of a module."""
    return {path: var for path, var in nnx.iter_graph(module) if isinstance(var, nnx.Param)}


def load(module, kind: str, params: dict, feature_shape=None, *, allow_missing=()) -> None:
    """Writes the reference's ``{torch name: array}`` into ``module``. Every parameter of the module
    must be set, except those whose path starts with one of ``allow_missing``; shapes must agree."""
    ours, converted = params_of(module), {}
    for name, value in params.items():
        path, array = convert(kind, name, value, feature_shape)
        if path in converted:
            raise ValueError(f"two reference parameters map to {path}")
        converted[path] = array
    for path, array in converted.items():
        if path not in ours:
            raise KeyError(f"the module has no parameter {path}")
        var = ours[path]
        if tuple(var.shape) != array.shape:
            raise ValueError(f"{path}: ours {tuple(var.shape)}, reference {array.shape}")
        var[...] = jnp.asarray(array, dtype=var[...].dtype)
    missing = [p for p in ours if p not in converted and not any(p[: len(a)] == tuple(a) for a in allow_missing)]
    if missing:
        raise KeyError(f"parameters not set from the reference: {missing}")
