"""The machine's peak arithmetic rate, for achieved-FLOP/s fractions and MFU.

GPUs: dense peaks by device name. CPUs: derived from /proc/cpuinfo as cores x clock x FLOP per
cycle, where FLOP per cycle = 2 (fused multiply-add) x the FMA lanes the core retires per cycle:
AVX-512 on AMD Zen 4 runs on two 256-bit pipes (16 fp32 lanes), on Intel server cores on two
512-bit units (32 lanes); AVX2 cores have two 256-bit units (16 lanes). bf16 doubles the lanes
where the CPU has AVX512_BF16 (dot-product instructions).
"""
from __future__ import annotations

import os
import re

import jax

GPU_PEAK_TFLOPS = {"H200": {"bfloat16": 989.0, "float32": 494.0}, "H100": {"bfloat16": 989.0, "float32": 494.0},
                   "A100": {"bfloat16": 312.0, "float32": 156.0}}


def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def cpu_peak(dtype: str = "float32", cores: int | None = None) -> dict:
    """{'gflops', 'cores', 'ghz', 'lanes', 'how'} for this CPU (None values where unknown)."""
    info = _cpuinfo()
    flags = set(re.search(r"^flags\s*:\s*(.*)$", info, re.M).group(1).split()) if "flags" in info else set()
    mhz = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", info, re.M)]
    vendor = (re.search(r"^vendor_id\s*:\s*(\S+)", info, re.M) or [None, ""])[1]
    cores = cores or len(os.sched_getaffinity(0))
    if "avx512f" in flags:
        lanes = 16 if vendor == "AuthenticAMD" else 32
    elif "avx2" in flags and "fma" in flags:
        lanes = 16
    else:
        lanes = 4
    bf16 = dtype == "bfloat16" and "avx512_bf16" in flags
    lanes *= 2 if bf16 else 1
    ghz = max(mhz) / 1000 if mhz else None
    gflops = cores * ghz * 2 * lanes if ghz else None
    how = (f"{cores} cores x {ghz:.2f} GHz x 2 (FMA) x {lanes} {'bf16' if bf16 else 'fp32'} lanes"
           if ghz else "clock unknown")
    return {"gflops": gflops, "cores": cores, "ghz": ghz, "lanes": lanes, "how": how}


def peak_tflops(dtype: str = "float32") -> tuple[float | None, str]:
    """(peak TFLOP/s of all local devices, what it is)."""
    device = jax.devices()[0]
    if device.platform == "cpu":
        peak = cpu_peak(dtype)
        return (peak["gflops"] / 1000 if peak["gflops"] else None), f"CPU: {peak['how']}"
    for name, peaks in GPU_PEAK_TFLOPS.items():
        if name in device.device_kind:
            n = jax.local_device_count()
            return peaks[dtype] * n, f"{n} x {device.device_kind} dense {dtype} peak"
    return None, f"unknown peak for {device.device_kind}"


def compiled_flops(compiled) -> float:
    """FLOPs of one call of a compiled jax function, from XLA's cost analysis (0 when unknown)."""
    try:
        cost = compiled.cost_analysis()
    except Exception:  # noqa: BLE001 (a backend without cost analysis)
        return 0.0
    cost = (cost[0] if isinstance(cost, (list, tuple)) else cost) or {}
    return float(cost.get("flops", 0.0))


def peak_memory_gib() -> float | None:
    """Peak memory in use on the first local device since start (None where jax does not say: CPU)."""
    stats = jax.local_devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return peak / 2**30 if peak is not None else None
