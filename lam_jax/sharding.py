"""Device mesh with one data-parallel axis; optional multi-host initialisation."""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def maybe_initialize_distributed(enabled: bool) -> None:
    """Multi-host: jax.distributed reads coordinator address and process ids from the environment."""
    if enabled and not jax.distributed.is_initialized():
        jax.distributed.initialize()


def make_mesh(num_devices: int = 0) -> Mesh:
    """A 1-D data mesh over the first ``num_devices`` devices (0: all of them)."""
    devices = jax.devices()
    if num_devices:
        if num_devices > len(devices):
            raise ValueError(f"asked for {num_devices} devices but only {len(devices)} are visible")
        devices = devices[:num_devices]
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())
