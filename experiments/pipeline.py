"""The full pipeline for one method on one task and label budget, every stage resumable.

  python -m experiments.pipeline --method laom_labels --task cheetah-run --labeled 4 --out runs/pipeline

methods: lapo, laom, laom_labels (LAM -> BC on latents -> decoder on labeled data -> evaluate),
idm (supervised IDM -> BC on its predicted actions -> evaluate), bc (BC from scratch on labeled data).
Writes {out}/{task}/{method}/k{labeled}_s{seed}/summary.json.
"""
import argparse
import json
import os

from configs import downstream as downstream_configs
from data_pipeline import dcs
from data_pipeline.rlds_dataset import TrajectoryDataset
from experiments.compare_lam import METHOD_CONFIGS, dataset_from_args, method_config
from lam_jax import data as data_lib
from lam_jax.stages import downstream, pretrain

METHODS = tuple(METHOD_CONFIGS) + ("bc",)


def parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--task", default="cheetah-run", choices=sorted(dcs.TASKS))
    p.add_argument("--preset", default="scale_easy_video_hard", choices=sorted(dcs.PRESETS))
    p.add_argument("--labeled", type=int, default=4, help="labeled trajectories k")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variant", default="small", help="smoke, small or paper (LAM and downstream)")
    p.add_argument("--num_train", type=int, default=16)
    p.add_argument("--num_eval", type=int, default=2)
    p.add_argument("--num_steps_env", type=int, default=1000)
    p.add_argument("--data_dir", default="data")
    p.add_argument("--davis_path", default="")
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--out", default="runs/pipeline")
    p.add_argument("--set", action="append", default=[], help="LAM config override key=value")
    p.add_argument("--downstream", action="append", default=[], help="downstream config override key=value")
    return p


def run(args) -> dict:
    run_dir = os.path.join(args.out, args.task, args.method, f"k{args.labeled}_s{args.seed}")
    summary_path = os.path.join(run_dir, "summary.json")
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            return json.load(f)
    dataset = dataset_from_args(args)
    ds = TrajectoryDataset(dataset)
    labeled_idx = ds.labeled_indices(args.labeled)
    dcfg = downstream_configs.get_config(",".join([args.variant, *args.downstream]))
    dcfg.labeled_trajectories = args.labeled
    summary = {"method": args.method, "task": args.task, "preset": args.preset, "labeled": args.labeled,
               "seed": args.seed, "dataset": dataset}

    train = data_lib.load_episodes(dataset, "train")
    labeled = train.subset(labeled_idx)
    if args.method == "bc":
        downstream.train_bc_scratch(dcfg, labeled, os.path.join(run_dir, "actor"))
        decoder_dir = None
    else:
        lam_dir = os.path.join(run_dir, "lam")
        cfg = method_config(args.method, args.variant, dataset, lam_dir,
                            [f"seed={args.seed}", f"labeled_trajectories={args.labeled}", *args.set])
        report = pretrain.run(cfg)
        summary["latent_action_probe"] = report.get("latent_action_probe")
        downstream.train_bc(dcfg, lam_dir, train, os.path.join(run_dir, "actor"))
        decoder_dir = None
        if args.method != "idm":  # the IDM's latent already is an action
            decoder_dir = os.path.join(run_dir, "decoder")
            downstream.train_decoder(dcfg, lam_dir, labeled, decoder_dir)
    policy, frame_stack = downstream.load_policy(os.path.join(run_dir, "actor"), decoder_dir, dcfg)
    env_cfg = dcs.EnvConfig(**{**ds.metadata["settings"]["env"], "split": "eval"})
    summary["eval"] = downstream.evaluate(policy, frame_stack, env_cfg, dcfg, os.path.join(run_dir, "eval.json"))
    with open(summary_path, "w") as f:
        json.dump(summary, f, indent=1)
    return summary


if __name__ == "__main__":
    result = run(parser().parse_args())
    print(json.dumps({k: result[k] for k in ("method", "labeled")} | {
        "normalized_return": result["eval"]["normalized_return"]}, indent=1))
