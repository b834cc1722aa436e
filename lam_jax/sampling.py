"""Window sampling: (o_t, o_{t+1}, o_{t+k}) frame stacks with first-frame padding.

Device-side: episodes live sharded along the mesh's data axis; each device samples its share of
the batch from its own episodes inside ``shard_map``, so no frames cross devices or the host.
Streaming fallback: the same windows sampled on the host and copied per step, for datasets larger
than device memory.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from lam_jax.data import Episodes
from lam_jax.sharding import DATA_AXIS


def stack_indices(t_end, frame_stack: int):
    """Frame indices [..., S] ending at t_end, clamped at the episode start (first-frame padding)."""
    return (t_end[..., None] - np.arange(frame_stack - 1, -1, -1)).clip(0)


def gather_stack(frames, ep, t_end, frame_stack):
    f = frames[ep[:, None], stack_indices(t_end, frame_stack)]  # [B, S, H, W, 3]
    b, s, h, w, c = f.shape
    return f.transpose(0, 2, 3, 1, 4).reshape(b, h, w, s * c)


def windows(frames, actions, states, ep, t, k, frame_stack: int) -> dict:
    """The batch for windows (episode ep, time t, offset k); NumPy or JAX arrays alike."""
    return {"obs": gather_stack(frames, ep, t, frame_stack),
            "next": gather_stack(frames, ep, t + 1, frame_stack),
            "future": gather_stack(frames, ep, t + k, frame_stack),
            "action": actions[ep, t], "state": states[ep, t],  # states standardised
            "episode": ep, "t": t, "k": k}


def sample_windows(data: dict, key, batch_size: int, frame_stack: int, max_offset: int) -> dict:
    """Samples windows from (local) episode arrays; returns stacks, a_t, s_t and the indices used."""
    frames = data["frames"]
    num_eps, length = frames.shape[:2]
    k_ep, k_off, k_t = jax.random.split(key, 3)
    ep = jax.random.randint(k_ep, (batch_size,), 0, num_eps)
    k = jax.random.randint(k_off, (batch_size,), 1, max_offset + 1)
    t = jax.random.randint(k_t, (batch_size,), 0, length - k)  # t + k <= T - 1
    return windows(frames, data["actions"], data["states"], ep, t, k, frame_stack)


def standardised_states(episodes: Episodes, stats=None) -> np.ndarray:
    """States z-scored per dimension (they only feed probes; raw velocities would dominate MSEs)."""
    mean, std = stats if stats is not None else state_stats(episodes)
    return ((episodes.states - mean) / std).astype(np.float32)


def state_stats(episodes: Episodes):
    flat = episodes.states.reshape(-1, episodes.state_dim)
    return flat.mean(0), flat.std(0) + 1e-6


def shard_episodes(episodes: Episodes, mesh, state_stats_=None) -> dict:
    """Places episodes in device memory, split along the data axis (episodes repeated to divide evenly).

    States are standardised with ``state_stats_`` (default: these episodes' own statistics).
    """
    n = mesh.shape[DATA_AXIS]
    reps = -(-episodes.num_episodes // n) * n
    idx = np.arange(reps) % episodes.num_episodes
    sharding = NamedSharding(mesh, P(DATA_AXIS))
    arrays = {"frames": episodes.frames, "actions": episodes.actions,
              "states": standardised_states(episodes, state_stats_)}
    if jax.process_count() == 1:
        return {k: jax.device_put(v[idx], sharding) for k, v in arrays.items()}
    # Multi-host: each process holds its slice of the episodes.
    per_proc = reps // jax.process_count()
    local = idx[jax.process_index() * per_proc:(jax.process_index() + 1) * per_proc]
    return {k: jax.make_array_from_process_local_data(sharding, v[local]) for k, v in arrays.items()}


def make_device_sampler(mesh, batch_size: int, frame_stack: int, max_offset: int):
    """Returns sample(data, key) -> batch sharded along the data axis; call it inside jit."""
    n = mesh.shape[DATA_AXIS]
    if batch_size % n:
        raise ValueError(f"batch size {batch_size} must be divisible by the {n} devices of the data axis")

    def local(data, key):
        key = jax.random.fold_in(key, jax.lax.axis_index(DATA_AXIS))
        out = sample_windows(data, key, batch_size // n, frame_stack, max_offset)
        out["episode"] = out["episode"] + jax.lax.axis_index(DATA_AXIS) * data["frames"].shape[0]
        return out

    return jax.shard_map(local, mesh=mesh, in_specs=(P(DATA_AXIS), P()), out_specs=P(DATA_AXIS))


class HostSampler:
    """Streaming fallback: samples on the host from NumPy episodes and copies each batch to devices."""

    def __init__(self, episodes: Episodes, mesh, batch_size: int, frame_stack: int, max_offset: int, seed: int = 0,
                 state_stats_=None):
        self.episodes, self.batch_size = episodes, batch_size
        self.states = standardised_states(episodes, state_stats_)
        self.frame_stack, self.max_offset = frame_stack, max_offset
        self.sharding = NamedSharding(mesh, P(DATA_AXIS))
        self.seed = seed

    def sample(self, step: int) -> dict:
        """The batch of ``step``: a function of (seed, step), so resumed runs draw the same batches."""
        e, r = self.episodes, np.random.default_rng((self.seed, step))
        ep = r.integers(0, e.num_episodes, self.batch_size)
        k = r.integers(1, self.max_offset + 1, self.batch_size)
        t = r.integers(0, e.length - k)
        batch = windows(e.frames, e.actions, self.states, ep, t, k, self.frame_stack)
        return jax.device_put(batch, self.sharding)
