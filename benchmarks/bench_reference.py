"""Our train step against the reference's, interleaved, on one pinned core.

  python benchmarks/bench_reference.py --reference=PATH_TO_LAOM_CHECKOUT --torch_python=PATH/bin/python \
      [--methods laom,lapo] [--batch 32] [--steps 5] [--rounds 3] [--core 0] [--json out.json]

Each round runs, for every method, four fresh processes pinned to ``--core`` one after the other:
the reference in float32, ours in float32, the reference under bf16 autocast, ours in bfloat16,
all at the ``paper`` architecture (64 px, 3-frame stacks) and the same batch. Interleaving keeps a
slow spell of the machine from landing on one side only. The reference side runs
benchmarks/reference_step.py in ``--torch_python`` (torch and torchvision; not a project
dependency), with the sizes taken from our ``paper`` config. Prints per method the median ms/step
over rounds of each side and ours/reference throughput ratios (above 1: ours faster).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIDES = (("reference", "fp32"), ("ours", "fp32"), ("reference", "bf16"), ("ours", "bf16"))


def sizes(method: str) -> dict:
    """Our ``paper`` model sizes, handed to the reference's classes."""
    sys.path.insert(0, ROOT)
    from configs import methods
    m = methods.lam_config(method, "paper").model
    return dict(channels=list(m.encoder_channels), encoder_scale=int(m.encoder_scale), latent_dim=m.latent_dim,
                act_head_dim=m.get("act_head_dim", 0), obs_head_dim=m.get("obs_head_dim", 0),
                num_res_blocks=m.encoder_num_res_blocks, image_size=64, frame_stack=3, action_dim=6, state_dim=17,
                augment=bool(m.get("augment", False)))


def ours(method: str, batch: int, steps: int, precision: str) -> dict:
    """Child mode: our whole jitted step (on-device sampling and augmentation included), as bench_train.py
    measures it."""
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import jax
    from bench_train import bench
    row = bench(method, "paper", batch, steps, {"fp32": "float32", "bf16": "bfloat16"}[precision])
    return {"ms_per_step": row["ms_per_step"], "jax": jax.__version__}


def run_side(args, side: str, precision: str, method: str) -> float:
    if side == "reference":
        cmd = [args.torch_python, os.path.join(ROOT, "benchmarks", "reference_step.py"),
               f"--reference={args.reference}", f"--method={method}", f"--sizes={json.dumps(sizes(method))}"]
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", f"--methods={method}"]
    cmd = ["taskset", "-c", str(args.core), *cmd, f"--batch={args.batch}", f"--steps={args.steps}",
           f"--precision={precision}"]
    env = dict(os.environ, JAX_PLATFORMS="cpu", OMP_NUM_THREADS="1", LAM_JAX_COMPILE_CACHE="0")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode:
        raise SystemExit(f"{side} {precision} {method} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["ms_per_step"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", default="")
    p.add_argument("--torch_python", default=os.environ.get("LAM_JAX_TORCH_PYTHON", ""))
    p.add_argument("--methods", default="laom,lapo")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--core", type=int, default=0)
    p.add_argument("--json", default="")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(ours(args.methods, args.batch, args.steps, args.precision)))
        return
    if not (args.reference and args.torch_python):
        p.error("--reference (a dunnolab/laom checkout) and --torch_python (a Python with torch) are needed")
    ms = {m: {f"{s} {pr}": [] for s, pr in SIDES} for m in args.methods.split(",")}
    for r in range(args.rounds):
        for method in ms:
            for side, precision in SIDES:
                ms[method][f"{side} {precision}"].append(run_side(args, side, precision, method))
                print(f"round {r + 1}/{args.rounds} {method:<5} {side:<9} {precision}: "
                      f"{ms[method][f'{side} {precision}'][-1]:8.0f} ms/step", flush=True)
    rows = {}
    print(f"\nbatch {args.batch}, core {args.core}, median over {args.rounds} interleaved rounds (ms/step):")
    for method, runs in ms.items():
        med = {k: statistics.median(v) for k, v in runs.items()}
        ratios = {"fp32": med["reference fp32"] / med["ours fp32"],
                  "ours fp32 vs reference bf16": med["reference bf16"] / med["ours fp32"],
                  "bf16": med["reference bf16"] / med["ours bf16"]}
        rows[method] = {"ms_per_step": runs, "median": med, "ours_over_reference_throughput": ratios}
        print(f"{method}: " + ", ".join(f"{k} {v:.0f}" for k, v in med.items()))
        print(f"  ours/reference throughput: fp32 {ratios['fp32']:.2f}x, ours fp32 vs reference bf16 "
              f"{ratios['ours fp32 vs reference bf16']:.2f}x, bf16 vs bf16 {ratios['bf16']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch": args.batch, "steps": args.steps, "rounds": args.rounds, "core": args.core,
                       "methods": rows}, f, indent=1)


if __name__ == "__main__":
    main()
