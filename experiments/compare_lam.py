"""Latent-action quality on a small real DCS dataset: LAPO vs LAOM (vs LAOM+supervision, IDM).

Collects (or reuses) a cheetah-run dataset with distractors, pretrains each method with the same
budget (steps x batch), fits a linear probe latent(o_t, o_{t+1}) -> a_t on the training episodes
and scores it on eval episodes with unseen background videos. Writes report.md and probe_mse.png.

  python -m experiments.compare_lam --out runs/compare --methods lapo,laom,laom_labels
"""
import argparse
import json
import os
import sys

from configs import collect as collect_configs
from data_pipeline.make_dataset import build_dataset
from experiments import report
from lam_jax.stages import pretrain

METHOD_CONFIGS = {"lapo": "configs.lapo", "laom": "configs.laom", "laom_labels": "configs.laom_labels",
                  "idm": "configs.idm"}


def method_config(method: str, variant: str, dataset: str, workdir: str, overrides=()):
    import importlib
    if method not in METHOD_CONFIGS:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(METHOD_CONFIGS)}")
    cfg = importlib.import_module(METHOD_CONFIGS[method]).get_config(",".join([variant, *overrides]))
    cfg.data.path, cfg.workdir = dataset, workdir
    return cfg


def dataset_from_args(args) -> str:
    """Builds (or reuses) the dataset the experiment flags describe; returns its path."""
    ccfg = collect_configs.get_config(f"small,task={args.task},preset={args.preset}")
    ccfg.num_train, ccfg.num_eval, ccfg.num_steps = args.num_train, args.num_eval, args.num_steps_env
    ccfg.data_dir, ccfg.num_workers, ccfg.env.davis_path = args.data_dir, args.workers, args.davis_path
    if args.davis_path:
        ccfg.name = f"{args.task}_{args.preset}_davis_64px"
    return build_dataset(ccfg)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/compare")
    p.add_argument("--methods", default="lapo,laom")
    p.add_argument("--variant", default="small", help="LAM config variant (smoke, small, paper)")
    p.add_argument("--task", default="cheetah-run")
    p.add_argument("--preset", default="scale_easy_video_hard")
    p.add_argument("--num_train", type=int, default=16)
    p.add_argument("--num_eval", type=int, default=2)
    p.add_argument("--num_steps_env", type=int, default=1000, help="env steps per trajectory")
    p.add_argument("--data_dir", default="data")
    p.add_argument("--davis_path", default="", help="DAVIS-2017 folder; empty: procedural videos")
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--set", action="append", default=[], help="LAM config override key=value (repeatable)")
    args = p.parse_args()

    dataset = dataset_from_args(args)

    results = {}
    for method in args.methods.split(","):
        cfg = method_config(method, args.variant, dataset, os.path.join(args.out, method), args.set)
        results[method] = pretrain.run(cfg)
        print(f"{method}: probe MSE {results[method]['latent_action_probe']['mse']:.4f}")
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"dataset": dataset, "args": vars(args), "results": results}, f, indent=1)
    command = "python -m experiments.compare_lam " + " ".join(sys.argv[1:])
    path = report.write_probe_report(args.out, results, dataset, command)
    print(f"report: {path}")


if __name__ == "__main__":
    main()
