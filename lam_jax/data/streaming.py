"""Streaming sampler: windows drawn on the host from a bounded buffer of episodes read from disk.

For datasets larger than device (or host) memory. Steps are grouped in blocks of
``buffer_steps``; block b samples from ``buffer_episodes`` episodes drawn from (seed, b) among
this process's episodes, read from the TFDS shards by a background thread while block b-1
trains. Host memory holds two buffers whatever the dataset size, and every batch is a function of
(seed, step), so an interrupted run resumes exactly.
"""
from __future__ import annotations

import concurrent.futures

import jax
import numpy as np

from lam_jax.data import sampling
from lam_jax.devices import sharding


class BufferedSampler:
    def __init__(self, source, mesh, batch_size: int, frame_stack: int, max_offset: int, seed: int,
                 buffer_episodes: int = 64, buffer_steps: int = 200):
        if buffer_episodes < 1 or buffer_steps < 1:
            raise ValueError(f"data.buffer_episodes and data.buffer_steps must be >= 1, got "
                             f"{buffer_episodes}, {buffer_steps}")
        n = sharding.data_size(mesh)
        if batch_size % n:
            raise ValueError(f"batch size {batch_size} must be divisible by the {n} devices of the data axis")
        rows = sampling.episode_rows(source.num_episodes, mesh)
        self.local_rows = sharding.local_rows(mesh, len(rows))
        self.episodes = np.unique(rows[self.local_rows.start:self.local_rows.stop])  # this process's own
        self.local_batch = batch_size * len(self.local_rows) // len(rows)
        self.source, self.mesh, self.batch_size = source, mesh, batch_size
        self.frame_stack, self.max_offset, self.seed = frame_stack, max_offset, seed
        self.buffer_episodes, self.buffer_steps = min(buffer_episodes, len(self.episodes)), buffer_steps
        self._pool = concurrent.futures.ThreadPoolExecutor(1)
        self._pending: dict[int, concurrent.futures.Future] = {}

    def _buffer_indices(self, block: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, jax.process_index(), block))
        return np.sort(rng.choice(self.episodes, self.buffer_episodes, replace=False))

    def _buffer(self, block: int):
        for old in [b for b in self._pending if b < block]:  # at most the current and next stay
            del self._pending[old]
        for b in (block, block + 1):
            if b not in self._pending:
                self._pending[b] = self._pool.submit(self.source.load, self._buffer_indices(b))
        return self._pending[block].result()

    def sample(self, step: int) -> dict:
        """The global batch of ``step``, split along the data axis."""
        eps = self._buffer(step // self.buffer_steps)
        rng = np.random.default_rng((self.seed, jax.process_index(), step))
        ep = rng.integers(0, eps.num_episodes, self.local_batch)
        t = rng.integers(0, eps.length - self.max_offset, self.local_batch)
        k = rng.integers(1, self.max_offset + 1, self.local_batch)
        batch = sampling.windows(eps.frames, eps.actions, eps.states, ep, t, k, self.frame_stack)
        return sharding.put_split(batch, self.mesh, self.batch_size)

    def close(self):
        self._pool.shutdown(wait=False, cancel_futures=True)
