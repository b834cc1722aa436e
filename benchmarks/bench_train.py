"""LAM train-step throughput: samples/s, FLOPs per sample (XLA cost analysis) and MFU.

  python benchmarks/bench_train.py [--variants smoke,paper] [--methods lapo,laom,laom_labels,idm]
                                   [--paper_batch 32] [--peak_tflops 989]

Synthetic 64 px episodes live on device, as in training; the whole jitted step (device-side
sampling + forward + backward + update) is timed after compilation. FLOPs count the labeled
sub-batch too. MFU needs the accelerator's peak (--peak_tflops, per device); known GPUs are
looked up by name.
"""
import argparse
import importlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

from lam_jax.data import synthetic_episodes  # noqa: E402
from lam_jax.train_lam import Trainer  # noqa: E402

# Dense peak TFLOP/s per device for the dtypes we train in (bf16 / fp32 via TF32 where applicable).
KNOWN_PEAKS = {"H100": {"bfloat16": 989.0, "float32": 494.0}, "H200": {"bfloat16": 989.0, "float32": 494.0},
               "A100": {"bfloat16": 312.0, "float32": 156.0}}
CONFIGS = {"lapo": "configs.lapo", "laom": "configs.laom", "laom_labels": "configs.laom_labels", "idm": "configs.idm"}


def peak_tflops(dtype: str, override: float) -> float | None:
    if override:
        return override
    kind = jax.devices()[0].device_kind
    for name, peaks in KNOWN_PEAKS.items():
        if name in kind:
            return peaks[dtype]
    return None


def bench(method, variant, batch, steps, dtype, peak_override):
    cfg = importlib.import_module(CONFIGS[method]).get_config(variant)
    if batch:
        cfg.batch_size = batch
        cfg.labeled_batch_size = max(jax.device_count(), min(cfg.labeled_batch_size, batch))
    cfg.model.dtype = dtype
    episodes = synthetic_episodes(max(jax.device_count(), 4), 64, image_size=64)
    trainer = Trainer(cfg, episodes, episodes)
    lowered = trainer.train_step.lower(trainer.state, trainer.data, trainer.labeled, 0)
    cost = lowered.compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = float(cost.get("flops", 0.0)) if cost else 0.0
    for step in range(2):  # warm-up (compilation)
        trainer.state, m = trainer.train_step(trainer.state, trainer.data, trainer.labeled, step)
        jax.block_until_ready(m)
    start = time.perf_counter()
    for step in range(steps):
        trainer.state, m = trainer.train_step(trainer.state, trainer.data, trainer.labeled, step)
        jax.block_until_ready(m)  # also avoids the CPU collective deadlock
    elapsed = time.perf_counter() - start
    rate = steps * cfg.batch_size / elapsed
    peak = peak_tflops(dtype, peak_override)
    mfu = (flops * steps / elapsed) / (peak * 1e12 * jax.device_count()) if peak and flops else None
    return dict(method=method, variant=variant, batch=cfg.batch_size, samples_per_s=rate,
                gflops_per_sample=flops / cfg.batch_size / 1e9, mfu=mfu)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default="smoke,paper")
    p.add_argument("--methods", default="lapo,laom,laom_labels,idm")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--paper_batch", type=int, default=0, help="batch for the paper variant (0: config's)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--peak_tflops", type=float, default=0.0)
    args = p.parse_args()
    print(f"devices: {jax.device_count()} x {jax.devices()[0].device_kind}  dtype: {args.dtype}")
    print(f"{'method':<12}{'variant':<8}{'batch':>6}{'samples/s':>12}{'GFLOP/sample':>14}{'MFU':>8}")
    for variant in args.variants.split(","):
        for method in args.methods.split(","):
            batch = args.paper_batch if variant == "paper" else 0
            r = bench(method, variant, batch, args.steps, args.dtype, args.peak_tflops)
            mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
            print(f"{r['method']:<12}{r['variant']:<8}{r['batch']:>6}{r['samples_per_s']:>12.1f}"
                  f"{r['gflops_per_sample']:>14.3f}{mfu:>8}", flush=True)


if __name__ == "__main__":
    main()
