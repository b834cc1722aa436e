"""How much memory a device has free, and a check that stops a run before it asks for more.

On a CPU the device's memory is the host's (``MemAvailable``); an accelerator reports its own.
"""
from __future__ import annotations

GIB = 2 ** 30


class MemoryNeedError(MemoryError):
    """A run would need more memory than the device has free: said before anything is allocated."""


def free_bytes(device) -> int | None:
    """Bytes free for JAX on ``device``, or None where it cannot be told."""
    if device.platform == "cpu":
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None
    stats = device.memory_stats() or {}
    if not stats.get("bytes_limit"):
        return None
    return stats["bytes_limit"] - stats.get("bytes_in_use", 0)


def require(device, nbytes: int, what: str, advice: str, fraction: float = 0.9) -> None:
    """Raises MemoryNeedError when ``nbytes`` exceed ``fraction`` of the memory free on ``device``."""
    free = free_bytes(device)
    if free is not None and nbytes > fraction * free:
        where = "the host" if device.platform == "cpu" else str(device)
        raise MemoryNeedError(f"{what} take {nbytes / GIB:.1f} GiB but {where} has {free / GIB:.1f} GiB free: {advice}")
