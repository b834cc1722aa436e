"""Dataset loading at scale: TFDS shards -> device memory, and the streaming sampler.

  python benchmarks/bench_loading.py [--sizes_gb 1,4] [--image_size 64] [--dir /tmp/lam_jax_loading]

Synthesises datasets of the given sizes (raw frame bytes; procedural frames that compress like
rendered ones) in the project's TFDS format, then, each in a fresh process:
- places every episode in device memory split along the data axis (``sampling.place_episodes``)
  and reports episodes/s and peak host RSS beyond the bytes placed on the devices (on a CPU host
  the devices' memory is host memory, so that difference is what the loader itself holds);
- streams batches of 512 windows with ``streaming.BufferedSampler`` and reports samples/s and
  peak RSS.
Both RSS figures should stay flat as the dataset grows.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

EPISODE_STEPS = 1000


class _SyntheticSource:
    """Moving-texture episodes as RLDS examples, a function of the index only."""

    def __init__(self, image_size: int):
        self.image_size = image_size

    def example(self, split: str, index: int) -> dict:
        from data_pipeline import rlds_dataset
        rng = np.random.default_rng(index)
        n, size = EPISODE_STEPS + 1, self.image_size
        texture = np.random.default_rng(0).integers(0, 256, (size * 2, size * 2, 3), dtype=np.uint8)
        shift = rng.integers(0, size, 2)
        frames = np.stack([np.roll(texture, (t + shift[0], 2 * t + shift[1]), (0, 1))[:size, :size] for t in range(n)])
        frames[:, ::4] //= 2  # stripes: some structure for zlib, as rendered frames have
        ep = {"image": frames, "state": rng.normal(size=(n, 17)).astype(np.float32),
              "action": rng.uniform(-1, 1, (n, 6)).astype(np.float32),
              "raw_action": rng.normal(0, 3, (n, 6)).astype(np.float32), "reward": np.zeros(n, np.float32),
              "is_first": np.arange(n) == 0, "is_last": np.arange(n) == n - 1, "is_terminal": np.zeros(n, bool),
              "meta_index": index, "meta_seed": index, "meta_video": "", "meta_return": 0.0}
        return rlds_dataset.episode_example(ep, {})


def synthesise(path_root: str, num_episodes: int, image_size: int) -> str:
    """A dataset of ``num_episodes`` moving-texture episodes in the project's TFDS format."""
    from data_pipeline import rlds_dataset
    name = f"synthetic_{num_episodes}x{image_size}px"
    path = rlds_dataset.dataset_dir(path_root, name)
    if os.path.isfile(os.path.join(path, "dataset_info.json")):
        return path
    settings = {"env": {"task": "cheetah-run"}, "num_train": num_episodes, "num_eval": 0, "num_steps": EPISODE_STEPS}
    shapes = {"length": EPISODE_STEPS + 1, "image_size": image_size, "state_dim": 17, "action_dim": 6}
    return rlds_dataset.write_dataset(path, {"train": num_episodes}, shapes,
                                      {"settings": settings, "labeled_subsets": {}}, _SyntheticSource(image_size))


def measure(path: str, mode: str) -> dict:
    """Runs in a fresh process: the loader's throughput and peak RSS (bytes)."""
    import jax

    from lam_jax.data import episodes as data
    from lam_jax.data import sampling, streaming
    from lam_jax.devices import sharding
    source = data.DatasetEpisodes(path, "train", action_key="raw_action")
    mesh = sharding.make_mesh()
    if mode == "place":
        start = time.perf_counter()
        placed = sampling.place_episodes(source, mesh)
        jax.block_until_ready(placed)
        elapsed = time.perf_counter() - start
        on_device = sum(x.nbytes for x in placed.values())
        return {"episodes_per_s": source.num_episodes / elapsed, "on_device_bytes": on_device,
                "peak_rss": peak_rss(), "seconds": elapsed}
    sampler = streaming.BufferedSampler(source, mesh, 512, 3, 10, seed=0, buffer_episodes=32, buffer_steps=50)
    jax.block_until_ready(sampler.sample(0))
    steps, start = 150, time.perf_counter()
    for step in range(1, steps + 1):
        jax.block_until_ready(sampler.sample(step))
    elapsed = time.perf_counter() - start
    sampler.close()
    return {"samples_per_s": 512 * steps / elapsed, "peak_rss": peak_rss(), "seconds": elapsed}


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes_gb", default="1,4", help="raw frame bytes of each dataset")
    p.add_argument("--image_size", type=int, default=64)
    p.add_argument("--dir", default="/tmp/lam_jax_loading")
    p.add_argument("--measure", nargs=2, metavar=("PATH", "MODE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    per_episode = (EPISODE_STEPS + 1) * args.image_size ** 2 * 3
    print(f"{'dataset':>9}{'episodes':>10}{'mode':>8}{'throughput':>20}{'peak RSS':>11}{'RSS - on device':>17}")
    for gb in args.sizes_gb.split(","):
        episodes = max(1, int(float(gb) * 2 ** 30 / per_episode))
        path = synthesise(args.dir, episodes, args.image_size)
        for mode in ("place", "stream"):
            out = subprocess.run([sys.executable, __file__, "--measure", path, mode], capture_output=True, text=True)
            if out.returncode:
                sys.exit(out.stderr[-3000:])
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rate = (f"{r['episodes_per_s']:.1f} episodes/s" if mode == "place"
                    else f"{r['samples_per_s']:.0f} samples/s")
            beyond = f"{(r['peak_rss'] - r.get('on_device_bytes', 0)) / 2 ** 30:.2f} GiB" if mode == "place" else "-"
            print(f"{float(gb):>7.1f}GB{episodes:>10}{mode:>8}{rate:>20}{r['peak_rss'] / 2 ** 30:>9.2f}GiB{beyond:>17}",
                  flush=True)


if __name__ == "__main__":
    main()
