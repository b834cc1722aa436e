"""Collection throughput: expert-driven env steps (64 px frames) per second per core.

  python benchmarks/bench_collection.py [--steps 1000] [--workers 2]

Single process per (preset, render quality), then all workers at once through the real
collection path (spawned processes writing staged episodes) to show the per-core rate holds.
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from data_pipeline import collect, env_config
from experiments import runtime


def single_process(preset: str, quality: str, steps: int) -> float:
    cfg = env_config.EnvConfig(preset=preset, render_quality=quality)
    collect.run_episode(cfg, seed=0, num_steps=10)  # warm caches (videos, shaders)
    start = time.perf_counter()
    collect.run_episode(cfg, seed=1, num_steps=steps)
    return steps / (time.perf_counter() - start)


def parallel(preset: str, steps: int, workers: int) -> float:
    cfg = env_config.EnvConfig(preset=preset)
    with tempfile.TemporaryDirectory() as staging:
        start = time.perf_counter()
        collect.collect_split(cfg, "train", workers * 2, steps, staging, num_workers=workers)
        return workers * 2 * steps / (time.perf_counter() - start)


def main():
    runtime.setup()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--presets", default="vanilla,scale_easy_video_hard,hard")
    parser.add_argument("--qualities", default="fast,medium,paper")
    args = parser.parse_args()
    rows = []
    presets = args.presets.split(",")
    for preset in presets:
        for quality in args.qualities.split(","):
            rows.append((preset, quality, 1, single_process(preset, quality, args.steps)))
    for preset in [p for p in presets if p in ("vanilla", "scale_easy_video_hard")]:
        rate = parallel(preset, args.steps, args.workers)
        rows.append((preset, "fast", args.workers, rate / args.workers))
    print(f"\n{'preset':<24}{'quality':<9}{'procs':>6}{'frames/s/core':>15}")
    for preset, quality, procs, rate in rows:
        print(f"{preset:<24}{quality:<9}{procs:>6}{rate:>15.1f}")


if __name__ == "__main__":
    main()
