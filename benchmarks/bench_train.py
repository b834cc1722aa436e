"""LAM train-step throughput: the whole jitted step (on-device sampling, augmentation, forward,
backward, Adam, EMA, online probes), after compilation (measured by device_check.measure_steps).

  python benchmarks/bench_train.py [--variants small,paper] [--methods lapo,laom,laom_labels,idm]
                                   [--dtypes float32,bfloat16] [--paper_batch 0] [--steps 5] [--set KEY=VALUE ...]

Prints per row: ms/step, samples/s, GFLOP/sample (XLA cost analysis of the compiled step, the
labeled batch included), achieved GFLOP/s, the fraction of the machine's peak (CPU: derived from
its flags and clock; GPU: dense peak, i.e. MFU), peak device memory, and for ``paper`` the
projected time of the paper's pretraining (10 epochs over 5M transitions). Synthetic 64 px
episodes live on device, as in training. ``--paper_batch 0``: 512 on accelerators, 32 on CPU.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
from device_check import measure_steps  # noqa: E402  (compile, cost analysis and timing, shared)

from configs import methods  # noqa: E402
from lam_jax.data.episodes import synthetic_episodes  # noqa: E402
from lam_jax.devices import hardware  # noqa: E402

PAPER_SAMPLES = 10 * 5_000 * 990  # 10 epochs over 5000 trajectories of 990 windows (k <= 10)


def bench(method: str, variant: str, batch: int, steps: int, dtype: str, extra=()) -> dict:
    overrides = [f"model.dtype={dtype}", "num_epochs=0", "num_steps=1000", "warmup_epochs=0", "warmup_steps=10", *extra]
    if batch:
        overrides += [f"batch_size={batch}", f"labeled_batch_size={max(jax.device_count(), batch // 4)}"]
    cfg = methods.lam_config(method, variant, overrides=overrides)
    episodes = synthetic_episodes(max(jax.device_count(), 4), 48, image_size=64)
    r = measure_steps(cfg, episodes, episodes, steps)
    peak, _ = hardware.peak_tflops(dtype)
    return dict(method=method, variant=variant, dtype=dtype, batch=cfg.batch_size, ms_per_step=r["step_ms"],
                samples_per_s=r["samples_per_s"], gflop_per_sample=r["gflop_per_sample"],
                achieved_gflops=1000 * r["achieved_tflops"],
                peak_fraction=(r["achieved_tflops"] / peak) if peak else None, peak_memory_gib=r["peak_gib"],
                paper_hours=PAPER_SAMPLES / r["samples_per_s"] / 3600 if variant == "paper" else None)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default="small,paper")
    p.add_argument("--methods", default="lapo,laom,laom_labels,idm")
    p.add_argument("--dtypes", default="float32,bfloat16")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--paper_batch", type=int, default=0)
    p.add_argument("--set", action="append", default=[], help="a config override KEY=VALUE for every row "
                   "(repeatable), e.g. --set model.encoder_scale=1 --set model.latent_dim=1024")
    p.add_argument("--json", default="", help="also write the rows here")
    args = p.parse_args()
    device = jax.devices()[0]
    print(f"devices: {jax.device_count()} x {device.device_kind} ({device.platform})")
    for dtype in args.dtypes.split(","):
        print(f"peak {dtype}: {hardware.peak_tflops(dtype)[1]}")
    header = (f"{'method':<12}{'variant':<8}{'dtype':<10}{'batch':>6}{'ms/step':>10}{'samples/s':>11}"
              f"{'GFLOP/smp':>11}{'GFLOP/s':>9}{'%peak':>7}{'mem GiB':>8}{'paper 10ep':>11}")
    print(header)
    rows = []
    for variant in args.variants.split(","):
        for method in args.methods.split(","):
            for dtype in args.dtypes.split(","):
                batch = args.paper_batch or (512 if device.platform != "cpu" else 32) if variant == "paper" else 0
                r = bench(method, variant, batch, args.steps, dtype, args.set)
                rows.append(r)
                frac = f"{100 * r['peak_fraction']:.1f}" if r["peak_fraction"] else "n/a"
                mem = f"{r['peak_memory_gib']:.1f}" if r["peak_memory_gib"] else "n/a"
                hours = f"{r['paper_hours']:.1f} h" if r["paper_hours"] else ""
                print(f"{method:<12}{variant:<8}{dtype:<10}{r['batch']:>6}{r['ms_per_step']:>10.1f}"
                      f"{r['samples_per_s']:>11.1f}{r['gflop_per_sample']:>11.3f}{r['achieved_gflops']:>9.1f}"
                      f"{frac:>7}{mem:>8}{hours:>11}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device.device_kind, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
