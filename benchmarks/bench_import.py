"""The paper's released HDF5 layout at scale: import to TFDS, and training reads from the file.

  python benchmarks/bench_import.py [--sizes_gb 1,4] [--workers 1,2] [--dir /tmp/lam_jax_import]

Writes synthetic files of the given sizes in the released layout (64 px, 1000-frame
trajectories; frames barely compress, the worst case for disk), then, each in a fresh process:
- imports the file (``experiments.import_hdf5``'s function) with 1 and more writer processes:
  MB/s of the HDF5 file and the peak RSS of the importing process and of its largest worker;
- reads the file in place for training (``data.path=FILE.hdf5``): every episode placed in device
  memory (episodes/s, peak RSS beyond the bytes placed, which on a CPU host are host memory) and
  the streaming sampler (samples/s of 512-window batches, peak RSS).
Every RSS figure should stay flat as the file grows; the last line projects the import of a
5000-trajectory (61 GB) file from the measured rate.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

TRAJECTORY_BYTES = 1000 * 64 * 64 * 3 + 1000 * (17 + 6) * 4
PAPER_TRAJECTORIES = 5000


def released_file(folder: str, gb: float) -> str:
    from data_pipeline import synthetic_released
    num = max(1, round(gb * 2 ** 30 / TRAJECTORY_BYTES))
    path = os.path.join(folder, f"{num}", "cheetah-run-scale-easy-video-hard-64px-5k.hdf5")
    if not os.path.isfile(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        synthetic_released.write_file(path + ".partial", num)
        os.replace(path + ".partial", path)
    return path


def _rss() -> dict:
    return {"peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "peak_rss_worker": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}


def measure_import(path: str, workers: int, out_dir: str) -> dict:
    from data_pipeline import import_hdf5
    shutil.rmtree(out_dir, ignore_errors=True)
    start = time.perf_counter()
    import_hdf5.import_release(path, out_dir, eval_path="", labeled_paths=(), workers=workers)
    elapsed = time.perf_counter() - start
    shutil.rmtree(out_dir, ignore_errors=True)
    return {"seconds": elapsed, "mb_per_s": os.path.getsize(path) / 1e6 / elapsed, **_rss()}


def _run(*args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--measure", *map(str, args)], capture_output=True, text=True)
    if out.returncode:
        sys.exit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes_gb", default="1,4", help="size of each synthetic released file")
    p.add_argument("--workers", default="1,2", help="writer processes to compare")
    p.add_argument("--dir", default="/tmp/lam_jax_import")
    p.add_argument("--measure", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure:
        kind, path, *rest = args.measure
        if kind == "import":
            result = measure_import(path, int(rest[0]), rest[1])
        else:
            import bench_loading
            result = bench_loading.measure(path, kind)
        print(json.dumps(result))
        return
    gib = 2 ** 30
    rates = []
    print(f"{'file':>8}{'traj':>6}  {'what':<18}{'throughput':>18}{'peak RSS':>11}{'worker RSS':>12}"
          f"{'beyond placed':>15}")
    for gb in args.sizes_gb.split(","):
        path = released_file(args.dir, float(gb))
        size, num = os.path.getsize(path) / gib, int(os.path.basename(os.path.dirname(path)))
        head = f"{size:>6.2f}GB{num:>6}  "
        for workers in map(int, args.workers.split(",")):
            r = _run("import", path, workers, os.path.join(args.dir, "out"))
            rates.append((workers, r["mb_per_s"]))
            worker = f"{r['peak_rss_worker'] / gib:.2f}GiB" if workers > 1 else "-"
            print(f"{head}{f'import, {workers} proc':<18}{r['mb_per_s']:>13.0f} MB/s{r['peak_rss'] / gib:>8.2f}GiB"
                  f"{worker:>12}{'-':>15}", flush=True)
        r = _run("place", path)
        beyond = (r["peak_rss"] - r["on_device_bytes"]) / gib
        print(f"{head}{'read: place':<18}{r['episodes_per_s']:>9.1f} episodes/s{r['peak_rss'] / gib:>5.2f}GiB"
              f"{'-':>12}{beyond:>12.2f}GiB", flush=True)
        r = _run("stream", path)
        print(f"{head}{'read: stream':<18}{r['samples_per_s']:>10.0f} samples/s{r['peak_rss'] / gib:>5.2f}GiB"
              f"{'-':>12}{'-':>15}", flush=True)
    best_workers, best = max(rates, key=lambda x: x[1])
    paper_gb = PAPER_TRAJECTORIES * TRAJECTORY_BYTES / 1e9
    print(f"projection: a {PAPER_TRAJECTORIES}-trajectory file ({paper_gb:.0f} GB) imports in "
          f"{paper_gb * 1e3 / best / 60:.0f} min at {best:.0f} MB/s ({best_workers} processes)")


if __name__ == "__main__":
    main()
