"""Device mesh with one data-parallel axis; multi-host initialisation and process-local data.

Every array a step touches is global: frames and batches are split along the ``data`` axis,
parameters, RNG key and step counter are replicated. Each process holds (and reads from disk)
only the rows its own devices hold.
"""
from __future__ import annotations

import os
import sys

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from lam_jax import errors
from lam_jax.devices import fatal_filter

DATA_AXIS = "data"


def initialize_distributed(dist_cfg) -> None:
    """jax.distributed from config.distributed; empty fields leave them to cluster auto-detection
    (SLURM, Open MPI, Kubernetes, Cloud TPU...). Idempotent."""
    if not dist_cfg or not dist_cfg.get("enabled", False) or jax.distributed.is_initialized():
        return
    address = dist_cfg.get("coordinator_address") or None
    num = dist_cfg.get("num_processes", 0) or None
    pid = dist_cfg.get("process_id", -1)
    if num is not None and pid < 0 or pid >= 0 and num is None:
        raise errors.ConfigError("config.distributed: give num_processes and process_id together (or neither, "
                         "for cluster auto-detection)")
    if num is not None and not 0 <= pid < num:
        raise errors.ConfigError(f"config.distributed.process_id {pid} must be in [0, {num})")
    if num is not None and address is None:
        raise errors.ConfigError("config.distributed.coordinator_address (host:port of process 0) is needed "
                         "when num_processes is given")
    fatal_filter.start(pid)  # jaxlib's abort when a peer dies becomes one line
    _native_stdout_to_stderr()
    timeout = int(dist_cfg.get("initialization_timeout", 900))
    # jaxlib aborts the process (a C++ check failure) when the others do not come in time: say first
    # what it waits for.
    print(f"waiting up to {timeout} s (config.distributed.initialization_timeout) for "
          f"{num or 'all detected'} processes at {address or 'the auto-detected coordinator'}",
          file=sys.stderr, flush=True)
    try:
        jax.distributed.initialize(coordinator_address=address, num_processes=num,
                                   process_id=None if pid < 0 else pid, initialization_timeout=timeout,
                                   heartbeat_timeout_seconds=int(dist_cfg.get("heartbeat_timeout", 100)))
    except Exception as e:  # noqa: BLE001 (jaxlib raises its own types)
        raise RuntimeError(f"jax.distributed did not start: not every one of the {num or 'detected'} processes "
                           f"reached the coordinator {address or '(auto-detected)'} within "
                           f"config.distributed.initialization_timeout={timeout} s ({type(e).__name__}: "
                           f"{str(e).splitlines()[0] if str(e) else ''})") from None
    barrier("start", timeout)


def coordination_client():
    """jax.distributed's key-value store and barriers (None in a single-process run); jax exposes
    it only under jax._src, so this is the one place that reaches for it."""
    from jax._src import distributed
    return distributed.global_state.client


def barrier(name: str, timeout_s: int) -> None:
    """Waits for every process (through the coordination service, no collective): processes that
    start or compile minutes apart then meet before their first collective, whose own set-up (Gloo
    on CPU) waits only 30 s."""
    client = coordination_client()
    if client is None or jax.process_count() == 1:
        return
    try:
        client.wait_at_barrier(f"lam_jax_{name}", timeout_s * 1000)
    except Exception as e:  # noqa: BLE001
        raise RuntimeError(f"process {jax.process_index()} waited {timeout_s} s at '{name}' for the other processes "
                           f"(config.distributed.initialization_timeout): one of them is slow or gone "
                           f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def _native_stdout_to_stderr() -> None:
    """Gloo (CPU collectives) prints connection notices from C++ to file descriptor 1. Point fd 1 at
    stderr and give Python's sys.stdout the original stdout, so what we print stays clean."""
    sys.stdout.flush()
    original = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(original, "w", buffering=1)


def make_mesh(num_devices: int = 0) -> Mesh:
    """A 1-D data mesh over the first ``num_devices`` devices (0: all of them, every process's)."""
    devices = jax.devices()
    if num_devices:
        if num_devices > len(devices):
            raise ValueError(f"asked for {num_devices} devices but only {len(devices)} are visible")
        if jax.process_count() > 1 and num_devices != len(devices):
            raise ValueError("multi-host runs use every device (num_devices=0)")
        devices = devices[:num_devices]
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def split(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P(DATA_AXIS))


def data_size(mesh: Mesh) -> int:
    return mesh.shape[DATA_AXIS]


def local_rows(mesh: Mesh, num_rows: int) -> range:
    """The rows of a [num_rows, ...] array split along the data axis that this process's devices hold."""
    index_map = split(mesh).addressable_devices_indices_map((num_rows,))
    starts = [idx[0].start or 0 for idx in index_map.values()]
    stops = [num_rows if idx[0].stop is None else idx[0].stop for idx in index_map.values()]
    return range(min(starts), max(stops))


def put_replicated(tree, mesh: Mesh):
    """Values (host or this process's device arrays) -> arrays replicated over the whole mesh; every
    process passes the same values. Across processes each leaf goes through host memory: a
    process-local jax array put on a multi-process sharding keeps a malformed shard list when the
    process has one device (the first checkpoint save then fails)."""
    sharding = replicated(mesh)
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def one(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(one(jax.random.key_data(x)), impl=jax.random.key_impl(x))
        return jax.make_array_from_process_local_data(sharding, np.asarray(x))
    return jax.tree.map(one, tree)


def put_split(tree, mesh: Mesh, num_rows: int):
    """Process-local rows (``local_rows``) of arrays split along the data axis -> global arrays."""
    sharding = split(mesh)
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x),
                                                                         (num_rows,) + x.shape[1:]), tree)


def local_copy(tree):
    """Replicated global arrays -> this process's own copy (for work on its local devices only)."""
    def one(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            if not x.is_fully_replicated:
                raise ValueError("only replicated arrays have a whole local copy")
            return x.addressable_data(0)
        return x
    return jax.tree.map(one, tree)


def is_main_process() -> bool:
    return jax.process_index() == 0
