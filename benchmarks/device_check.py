"""The accelerator check: the ``paper`` configs measured on a GPU in one prepared run.

  python benchmarks/device_check.py --out DIR [--smoke] [--budget_s 540] [--parts env,step:lapo,...]

Parts run most important first, each in a fresh process (its own peak memory; a failure or an
out-of-memory stays in its part), and DIR/device.json is rewritten after each, so a run cut short
keeps what it measured. A part that would start with less than its time left in the budget is
skipped and says so.
- ``env``: jax/flax/optax/orbax/numpy versions, devices, XLA flags, the project's commit;
- ``matmul``: a bf16 matrix product's TFLOP/s, the practical ceiling beside the datasheet peak;
- ``step:METHOD``: LAPO, LAOM, LAOM+supervision and the IDM at ``paper`` sizes, bf16, batch 512,
  windows sampled on device: compile time, step time, samples/s, GFLOP and bytes per sample (XLA
  cost analysis), TFLOP/s, MFU against the dense bf16 peak, arithmetic intensity against the
  chip's ridge point (compute- or memory-bound), peak device memory;
- ``full_size``: the reference's data regime, 5000 episodes of 1001 frames at 64 px (61.5 GB)
  placed in device memory through the training path, then LAOM ``paper`` steps from them;
  set-up GB/s (placement included), samples/s, peak memory, and the projected time of the paper's LAOM pretraining
  (10 epochs of 5000 x 990 windows at batch 512);
- ``numerics``: three LAOM ``small`` float32 steps on the GPU against the same steps on the CPU
  (relative difference of each parameter array; also with full-precision float32 matmuls instead
  of XLA's TF32 default), and two identical GPU runs compared bit for bit, with the default XLA
  flags and with ``--xla_gpu_deterministic_ops=true``;
- ``flags:laom``: the LAOM ``paper`` step again under other XLA GPU flags.
``--smoke`` runs every part at smoke sizes on whatever device there is (a CPU dry run for tests).
"""
import argparse
import functools
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

PAPER_WINDOWS = 5000 * 990  # windows per epoch of the released dataset (T - max_offset per trajectory)
PAPER_EPOCHS = 10
RIDGE_FLOP_PER_BYTE = {"H200": 206.0, "H100": 295.0}  # dense bf16 peak / HBM bandwidth (datasheets)
FLAG_SETS = {"autotune_off": "--xla_gpu_autotune_level=0",
             "deterministic": "--xla_gpu_deterministic_ops=true"}
# (part, seconds it needs at most, at paper size), most important first.
# The budget may not cover the last ones: run them in a second call with --parts.
PARTS = [("env", 40), ("matmul", 40), ("step:laom", 120), ("full_size", 200), ("numerics", 150),
         ("step:lapo", 120), ("step:laom_labels", 120), ("step:idm", 120), ("flags:laom", 200)]


# ------------------------------------------------------------------------------ in a part's process

class PooledEpisodes:
    """``num_episodes`` synthetic episodes served from a pool of 8 (cheap at any count), through
    the same ``load`` interface the training path places datasets with."""

    def __init__(self, num_episodes: int, length: int, image_size: int = 64):
        from lam_jax.data.episodes import synthetic_episodes
        self.pool = synthetic_episodes(min(8, num_episodes), length, image_size, seed=0)
        self.pool.actions = self.pool.actions.repeat(3, -1)  # 6 action dims, as cheetah-run
        self.num_episodes, self.length, self.image_size = num_episodes, length, image_size
        self.action_dim, self.state_dim = 6, self.pool.state_dim

    def load(self, indices):
        return self.pool.load([i % self.pool.num_episodes for i in indices])


def _config(method: str, smoke: bool, overrides=()):
    from configs import methods
    if smoke:
        return methods.lam_config(method, "smoke", overrides=["num_steps=100", *overrides])
    batch = ["batch_size=512", "labeled_batch_size=128", "model.dtype=bfloat16"]
    return methods.lam_config(method, "paper", overrides=[*batch, "num_epochs=0", "num_steps=100000",
                                                          "warmup_epochs=0", "warmup_steps=1000", *overrides])


def _memory() -> dict:
    import jax
    stats = jax.devices()[0].memory_stats() or {}
    return {"peak_gib": stats.get("peak_bytes_in_use", 0) / 2 ** 30 or None,
            "limit_gib": stats.get("bytes_limit", 0) / 2 ** 30 or None}


def _peak_tflops(dtype: str = "bfloat16") -> float | None:
    from lam_jax.devices import hardware
    return hardware.peak_tflops(dtype)[0]


def _ridge() -> float | None:
    import jax
    kind = jax.devices()[0].device_kind
    return next((v for k, v in RIDGE_FLOP_PER_BYTE.items() if k in kind), None)


def _cost(stage) -> dict:
    try:
        cost = stage.cost_analysis()
    except Exception:  # noqa: BLE001 (a backend without cost analysis)
        return {}
    return (cost[0] if isinstance(cost, (list, tuple)) else cost) or {}


def measure_steps(cfg, episodes, labeled, steps: int, check_last: bool = False) -> dict:
    """Compile and time the whole jitted train step of ``cfg`` on placed episodes."""
    import jax

    from lam_jax.training import train_lam
    start = time.perf_counter()
    trainer = train_lam.Trainer(cfg, episodes, labeled)
    jax.block_until_ready(trainer.data)
    setup_s = time.perf_counter() - start  # model, optimiser and the episodes placed in device memory
    if check_last:  # the last frame placed is the source's (a buffer of more than 2^31 elements on GPU)
        import numpy as np
        last = episodes.load([episodes.num_episodes - 1])
        assert np.array_equal(np.asarray(trainer.data["frames"][episodes.num_episodes - 1, -1]), last.frames[0, -1])
    start = time.perf_counter()
    lowered = train_lam.jit_train_step.lower(trainer.statics, trainer.state, trainer.health, trainer.data,
                                             trainer.labeled, trainer.base_key, 0)
    compiled = lowered.compile()
    compile_s = time.perf_counter() - start
    cost = _cost(compiled)
    flops, nbytes = float(cost.get("flops", 0.0)), float(cost.get("bytes accessed", 0.0))
    hlo_flops = float(_cost(lowered).get("flops", 0.0))  # before backend rewrites: a cross-check on MFU
    state, health = trainer.state, trainer.health
    # Back to back on an accelerator, as training does; one at a time on CPU, where queued sharded
    # steps can deadlock in XLA's all-reduce (lam_jax.training.loop does the same).
    block_each = jax.devices()[0].platform == "cpu"
    for step in range(3):  # warm-up
        state, health, metrics = compiled(state, health, trainer.data, trainer.labeled, trainer.base_key, step)
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for step in range(3, 3 + steps):
        state, health, metrics = compiled(state, health, trainer.data, trainer.labeled, trainer.base_key, step)
        if block_each:
            jax.block_until_ready(metrics)
    jax.block_until_ready(metrics)
    step_s = (time.perf_counter() - start) / steps
    peak = _peak_tflops(cfg.model.dtype)  # bf16 at paper sizes: MFU against the dense bf16 peak
    ridge = _ridge()
    achieved = flops / step_s / 1e12
    out = {"batch": cfg.batch_size, "dtype": cfg.model.dtype, "setup_s": setup_s, "compile_s": compile_s,
           "hlo_gflop_per_sample": hlo_flops / cfg.batch_size / 1e9,
           "step_ms": 1000 * step_s, "samples_per_s": cfg.batch_size / step_s,
           "gflop_per_sample": flops / cfg.batch_size / 1e9, "mb_per_sample": nbytes / cfg.batch_size / 1e6,
           "achieved_tflops": achieved, "mfu": achieved / peak if peak else None,
           "flop_per_byte": flops / nbytes if nbytes else None, "ridge_flop_per_byte": ridge,
           "loss": float(metrics["loss"]), **_memory()}
    if ridge and nbytes:
        out["bound"] = "compute" if flops / nbytes >= ridge else "memory"
    return out


def part_env(smoke: bool) -> dict:
    import importlib.metadata as md

    import jax
    versions = {}
    for name in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "ml-collections", "h5py"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    d = jax.devices()[0]
    return {"versions": versions, "python": sys.version.split()[0], "platform": d.platform,
            "devices": [str(x) for x in jax.devices()], "device_kind": d.device_kind,
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "commit": commit or os.environ.get("LAM_JAX_COMMIT", ""),
            "peak_bf16_tflops": _peak_tflops(), **_memory()}


def part_matmul(smoke: bool) -> dict:
    import jax
    import jax.numpy as jnp
    n = 512 if smoke else 8192
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.bfloat16)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.bfloat16)
    f = jax.jit(lambda x, y: x @ y)
    for _ in range(3):
        f(a, b).block_until_ready()
    reps = 3 if smoke else 20
    start = time.perf_counter()
    for _ in range(reps):
        out = f(a, b)
    out.block_until_ready()
    seconds = (time.perf_counter() - start) / reps
    return {"n": n, "tflops": 2 * n ** 3 / seconds / 1e12, "peak_bf16_tflops": _peak_tflops()}


def part_step(method: str, smoke: bool) -> dict:
    length = 60 if smoke else 1001
    episodes = PooledEpisodes(8 if smoke else 32, length)
    return measure_steps(_config(method, smoke), episodes, episodes, 3 if smoke else 20)


def part_full_size(smoke: bool) -> dict:
    num, length = (40, 60) if smoke else (5000, 1001)
    episodes = PooledEpisodes(num, length)
    out = measure_steps(_config("laom", smoke), episodes, None, 3 if smoke else 20, check_last=True)
    placed = num * length * (64 * 64 * 3 + 4 * (episodes.action_dim + episodes.state_dim))
    steps = PAPER_EPOCHS * PAPER_WINDOWS / out["batch"]
    out.update(episodes=num, length=length, placed_gb=placed / 1e9, setup_gb_per_s=placed / 1e9 / out["setup_s"],
               paper_laom_steps=steps, paper_laom_pretraining_minutes=steps * out["step_ms"] / 1000 / 60,
               paper_whole_laom_pipeline_h100="6h43m (the paper: pretraining, BC, decoder and evaluation)")
    return out


def part_numerics_run(smoke: bool) -> dict:
    """Three LAOM ``small`` float32 steps on one device (no warm-up, so the parameters move); saves
    the state after them (every float array) to $LAM_JAX_NUMERICS_OUT and returns the losses."""
    import jax
    import numpy as np

    from configs import methods
    from lam_jax.data.episodes import synthetic_episodes
    from lam_jax.training import train_lam
    episodes = synthetic_episodes(8, 60, image_size=32, seed=0)
    cfg = methods.lam_config("laom", "smoke" if smoke else "small",
                             overrides=["num_steps=100", "warmup_steps=0", "model.dtype=float32", "num_devices=1"])
    trainer = train_lam.Trainer(cfg, episodes, episodes)
    state, health, losses = trainer.state, trainer.health, []
    for step in range(3):
        state, health, metrics = trainer.train_step(state, health, trainer.data, trainer.labeled, step)
        losses.append(float(metrics["loss"]))
    leaves = [np.asarray(x) for x in jax.tree.leaves(state)
              if hasattr(x, "dtype") and np.issubdtype(x.dtype, np.floating)]
    np.savez(os.environ["LAM_JAX_NUMERICS_OUT"], *leaves)
    return {"losses": losses, "platform": jax.devices()[0].platform,
            "matmul_precision": str(jax.config.jax_default_matmul_precision)}


def part_numerics(smoke: bool, deadline: float) -> dict:
    """GPU against CPU, and two identical GPU runs, default flags and deterministic ops; on GPU also
    with float32 matmuls at full precision (XLA's GPU default for float32 is TF32)."""
    import numpy as np
    folder = os.environ.get("LAM_JAX_SCRATCH", "/tmp")
    runs = {"cpu": {"JAX_PLATFORMS": "cpu"}, "gpu_a": {}, "gpu_b": {}}
    if not smoke:  # XLA's CPU backend ignores these; the dry run skips them
        runs.update(det_a={"XLA_FLAGS": FLAG_SETS["deterministic"]}, det_b={"XLA_FLAGS": FLAG_SETS["deterministic"]},
                    gpu_highest={"JAX_DEFAULT_MATMUL_PRECISION": "highest"})
    out, arrays = {}, {}
    for name, env in runs.items():
        path = os.path.join(folder, f"numerics_{name}.npz")
        out[name] = _child("numerics_run", smoke, deadline, {**env, "LAM_JAX_NUMERICS_OUT": path}, need=60)
        if "error" not in out[name] and "skipped" not in out[name]:
            with np.load(path) as f:
                arrays[name] = [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]

    def compare(a, b):
        if a not in arrays or b not in arrays:
            return None
        rel = [float(np.linalg.norm(x - y) / max(np.linalg.norm(y), 1e-30)) for x, y in zip(arrays[a], arrays[b])]
        return {"bit_equal": all(np.array_equal(x, y) for x, y in zip(arrays[a], arrays[b])),
                "max_leaf_rel_norm": max(rel), "median_leaf_rel_norm": float(np.median(rel)),
                "max_abs": max(float(np.max(np.abs(x - y))) for x, y in zip(arrays[a], arrays[b]))}
    out["gpu_vs_cpu"] = compare("gpu_a", "cpu")
    out["gpu_highest_precision_vs_cpu"] = compare("gpu_highest", "cpu")
    out["gpu_twice_default_flags"] = compare("gpu_a", "gpu_b")
    out["gpu_twice_deterministic_ops"] = compare("det_a", "det_b")
    return out


def part_flags(method: str, smoke: bool, deadline: float) -> dict:
    sets = list(FLAG_SETS.items())[:1 if smoke else None]
    return {name: _child(f"step:{method}", smoke, deadline, {"XLA_FLAGS": flags}, need=120) for name, flags in sets}


# ------------------------------------------------------------------------------ the driver

def _child(part: str, smoke: bool, deadline: float, env=None, need: float = 0) -> dict:
    """Runs ``part`` in a fresh process, for at most twice what it needs; its JSON, or {'error': ...}."""
    left = deadline - time.time()
    if left < 20:
        return {"skipped": f"{left:.0f} s left in the budget"}
    left = min(left, 2 * (need or dict(PARTS).get(part, 120)))
    cmd = [sys.executable, os.path.abspath(__file__), "--part", part, "--deadline", str(deadline)]
    if smoke:
        cmd.append("--smoke")
    start = time.time()
    try:
        proc = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=left)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {left:.0f} s"}
    if proc.returncode:
        lines = [x for x in proc.stderr.strip().splitlines() if x.strip()]
        return {"error": (lines[-1] if lines else f"exit code {proc.returncode}")[:500],
                "stderr_tail": proc.stderr[-3000:], "seconds": time.time() - start}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["seconds"] = time.time() - start
    return result


def run_part(part: str, smoke: bool, deadline: float) -> dict:
    kind, _, arg = part.partition(":")
    if kind == "numerics":
        return part_numerics(smoke, deadline)
    if kind == "flags":
        return part_flags(arg, smoke, deadline)
    return _child(part, smoke, deadline)


def _in_part(part: str, smoke: bool) -> dict:
    kind, _, arg = part.partition(":")
    functions = {"env": part_env, "matmul": part_matmul, "full_size": part_full_size,
                 "numerics_run": part_numerics_run, "step": functools.partial(part_step, arg)}
    return functions[kind](smoke)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.environ.get("OUT", "device_out"))
    p.add_argument("--smoke", action="store_true", help="smoke sizes on any device (a CPU dry run)")
    p.add_argument("--budget_s", type=float, default=540.0, help="stop starting parts after this many seconds")
    p.add_argument("--parts", default=",".join(name for name, _ in PARTS))
    p.add_argument("--part", help=argparse.SUPPRESS)
    p.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.part:
        print(json.dumps(_in_part(args.part, args.smoke)))
        return
    os.makedirs(args.out, exist_ok=True)
    os.environ.setdefault("LAM_JAX_SCRATCH", args.out)
    deadline = time.time() + args.budget_s
    needs = dict(PARTS)
    report = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "smoke": args.smoke, "budget_s": args.budget_s,
              "parts": {}}
    for part in args.parts.split(","):
        need = 20 if args.smoke else needs.get(part, 60)
        left = deadline - time.time()
        start = time.time()
        if left < need:
            result = {"skipped": f"needs up to {need} s, {left:.0f} s left in the budget"}
        else:
            result = run_part(part, args.smoke, deadline)
        report["parts"][part] = result
        status = "skipped" if "skipped" in result else "error" if "error" in result else "ok"
        print(f"[{time.time() - start:6.1f} s] {part}: {status} {_summary(result)}", flush=True)
        with open(os.path.join(args.out, "device.json.tmp"), "w") as f:
            json.dump(report, f, indent=1)
        os.replace(os.path.join(args.out, "device.json.tmp"), os.path.join(args.out, "device.json"))
        if part == "env" and not args.smoke and result.get("platform") != "gpu":
            sys.exit(f"no GPU found (platform {result.get('platform')!r}): the paper-size parts would run on "
                     "the host for hours; use --smoke for a dry run")
    for name in os.listdir(args.out):  # numerics scratch arrays do not come back
        if name.startswith("numerics_") and name.endswith(".npz"):
            os.remove(os.path.join(args.out, name))


def _summary(r: dict) -> str:
    if "error" in r:
        return r["error"]
    if "skipped" in r:
        return r["skipped"]
    keys = ("samples_per_s", "mfu", "step_ms", "compile_s", "peak_gib", "tflops", "paper_laom_pretraining_minutes",
            "setup_gb_per_s", "device_kind")
    return " ".join(f"{k}={r[k]:.4g}" if isinstance(r[k], float) else f"{k}={r[k]}" for k in keys if r.get(k))


if __name__ == "__main__":
    main()
