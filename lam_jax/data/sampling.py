"""Window sampling: (o_t, o_{t+1}, o_{t+k}) frame stacks with first-frame padding.

As the reference's datasets (``src/utils.py``, ``DCSLAOMInMemoryDataset``): a window starts at
t ~ U{0 .. T-1-max_offset} and looks k ~ U{1 .. max_offset} steps ahead, independently of t.
Windows are drawn uniformly with replacement each step instead of from a per-epoch shuffle.

Device-side: episodes live in device memory split along the mesh's data axis, placed a few
episodes at a time (host memory stays bounded by one chunk); each device samples its share of the
batch from its own episodes inside ``shard_map``, so no frames cross devices or the host.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P
from jax.sharding import SingleDeviceSharding

from lam_jax.devices import memory, sharding
from lam_jax.devices.sharding import DATA_AXIS


def gather_stack(frames, ep, t_end, frame_stack):
    """The stacks of ``frame_stack`` frames ending at t_end, clamped at the episode start (first-frame padding)."""
    f = frames[ep[:, None], (t_end[..., None] - np.arange(frame_stack - 1, -1, -1)).clip(0)]  # [B, S, H, W, 3]
    b, s, h, w, c = f.shape
    return f.transpose(0, 2, 3, 1, 4).reshape(b, h, w, s * c)


def windows(frames, actions, states, ep, t, k, frame_stack: int) -> dict:
    """The batch for windows (episode ep, time t, offset k); NumPy or JAX arrays alike."""
    return {"obs": gather_stack(frames, ep, t, frame_stack),
            "next": gather_stack(frames, ep, t + 1, frame_stack),
            "future": gather_stack(frames, ep, t + k, frame_stack),
            "action": actions[ep, t], "state": states[ep, t], "episode": ep, "t": t, "k": k}


def sample_windows(data: dict, key, batch_size: int, frame_stack: int, max_offset: int) -> dict:
    """Samples windows from (local) episode arrays; returns stacks, a_t, s_t and the indices used."""
    frames = data["frames"]
    num_eps, length = frames.shape[:2]
    k_ep, k_off, k_t = jax.random.split(key, 3)
    ep = jax.random.randint(k_ep, (batch_size,), 0, num_eps)
    t = jax.random.randint(k_t, (batch_size,), 0, length - max_offset)
    k = jax.random.randint(k_off, (batch_size,), 1, max_offset + 1)
    return windows(frames, data["actions"], data["states"], ep, t, k, frame_stack)


def episode_rows(num_episodes: int, mesh) -> np.ndarray:
    """Episode index of each row of the device arrays: repeated up to a multiple of the data axis."""
    n = sharding.data_size(mesh)
    return np.arange(-(-num_episodes // n) * n) % num_episodes


@functools.lru_cache(maxsize=None)
def _writer():
    return jax.jit(lambda buf, x, row: jax.lax.dynamic_update_slice_in_dim(buf, x, row, 0), donate_argnums=0)


def _zeros_on(device, shape, dtype):
    return jax.jit(lambda: jnp.zeros(shape, dtype), out_shardings=SingleDeviceSharding(device))()


def _check_fits(device, nbytes: int) -> None:
    """Stops before placing episodes that cannot fit beside training."""
    memory.require(device, nbytes, f"the episodes for {device}",
                   "train with --config.data.streaming=True, or on more devices"
                   + ("" if device.platform == "cpu" else " (XLA_PYTHON_CLIENT_MEM_FRACTION sets how much JAX may take)"))


def place_episodes(source, mesh, chunk_episodes: int = 8) -> dict:
    """Episodes of ``source`` -> device arrays {frames, actions, states} split along the data axis.

    Each local device's rows are filled ``chunk_episodes`` at a time by an in-place (donated)
    update, so host memory holds one chunk whatever the dataset size, and each process reads only
    the episodes of its own devices. A source with a ``placed`` dict keeps the arrays there, so the
    next stage on the same mesh (a pipeline's BC after pretraining) reads no frame again.
    """
    memo = getattr(source, "placed", None)
    if memo is not None and mesh in memo:
        return memo[mesh]
    rows = episode_rows(source.num_episodes, mesh)
    split = sharding.split(mesh)
    shapes = {"frames": ((source.length, source.image_size, source.image_size, 3), np.uint8),
              "actions": ((source.length, source.action_dim), np.float32),
              "states": ((source.length, source.state_dim), np.float32)}
    per_device = {k: [] for k in shapes}
    for device, index in split.addressable_devices_indices_map((len(rows),)).items():
        mine = rows[index[0]]
        _check_fits(device, len(mine) * sum(int(np.prod(s)) * np.dtype(d).itemsize for s, d in shapes.values()))
        bufs = {k: _zeros_on(device, (len(mine), *shape), dtype) for k, (shape, dtype) in shapes.items()}
        for start in range(0, len(mine), chunk_episodes):
            eps = source.load(mine[start:start + chunk_episodes])
            for k in shapes:
                bufs[k] = _writer()(bufs[k], jax.device_put(getattr(eps, k), device), start)
        for k in shapes:
            per_device[k].append(bufs[k])
    placed = {k: jax.make_array_from_single_device_arrays((len(rows), *shape), split, per_device[k])
              for k, (shape, _) in shapes.items()}
    if memo is not None:
        memo[mesh] = placed
    return placed


def make_device_sampler(mesh, batch_size: int, frame_stack: int, max_offset: int):
    """Returns sample(data, key) -> batch split along the data axis; call it inside jit."""
    n = sharding.data_size(mesh)
    if batch_size % n:
        raise ValueError(f"batch size {batch_size} must be divisible by the {n} devices of the data axis")

    def local(data, key):
        key = jax.random.fold_in(key, jax.lax.axis_index(DATA_AXIS))
        out = sample_windows(data, key, batch_size // n, frame_stack, max_offset)
        out["episode"] = out["episode"] + jax.lax.axis_index(DATA_AXIS) * data["frames"].shape[0]
        return out

    return jax.shard_map(local, mesh=mesh, in_specs=(P(DATA_AXIS), P()), out_specs=P(DATA_AXIS))
