"""One downstream stage at a time, handing off through each stage's checkpoints.

  python -m experiments.downstream bc         --lam runs/x/lam --out runs/x/actor
  python -m experiments.downstream decoder    --lam runs/x/lam --out runs/x/decoder --labeled 4
  python -m experiments.downstream bc_scratch --dataset DATA --out runs/x/bc_actor --labeled 4
  python -m experiments.downstream evaluate   --actor runs/x/actor --decoder runs/x/decoder [--dataset DATA]

Datasets default to the one the LAM was trained on; --config picks the downstream variant
(smoke, small, paper) with key=value overrides, as in configs/downstream.py.
"""
import argparse
import json

from configs import downstream as downstream_configs
from data_pipeline import dcs
from data_pipeline.rlds_dataset import TrajectoryDataset
from lam_jax import data as data_lib
from lam_jax.stages import downstream

STAGES = ("bc", "decoder", "bc_scratch", "evaluate")


def _dataset(args):
    if args.dataset:
        return args.dataset
    if not args.lam:
        raise SystemExit("give --dataset, or --lam to use the dataset the LAM was trained on")
    with open(f"{args.lam}/config.json") as f:
        return json.load(f)["data"]["path"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=STAGES)
    p.add_argument("--config", default="small", help="downstream variant[,key=value...]")
    p.add_argument("--lam", default="", help="pretraining run folder (bc, decoder)")
    p.add_argument("--dataset", default="")
    p.add_argument("--labeled", type=int, default=4, help="labeled trajectories k (decoder, bc_scratch)")
    p.add_argument("--out", default="", help="stage output folder (bc, decoder, bc_scratch)")
    p.add_argument("--actor", default="", help="actor folder (evaluate)")
    p.add_argument("--decoder", default="", help="decoder folder (evaluate; omit for IDM/BC actors)")
    args = p.parse_args(argv)
    dcfg = downstream_configs.get_config(args.config)
    if args.stage == "evaluate":
        if not args.actor:
            raise SystemExit("evaluate needs --actor")
        dataset = args.dataset or (_dataset(args) if args.lam else "")
        env = TrajectoryDataset(dataset).metadata["settings"]["env"] if dataset else {}
        policy, frame_stack = downstream.load_policy(args.actor, args.decoder or None, dcfg)
        result = downstream.evaluate(policy, frame_stack, dcs.EnvConfig(**{**env, "split": "eval"}), dcfg,
                                     f"{args.actor}/eval.json")
        print(json.dumps({k: result[k] for k in ("mean_return", "normalized_return")}, indent=1))
        return result
    if not args.out:
        raise SystemExit(f"{args.stage} needs --out")
    dataset = _dataset(args)
    train = data_lib.load_episodes(dataset, "train")
    if args.stage == "bc":
        downstream.train_bc(dcfg, args.lam, train, args.out)
    else:
        labeled = train.subset(TrajectoryDataset(dataset).labeled_indices(args.labeled))
        if args.stage == "decoder":
            downstream.train_decoder(dcfg, args.lam, labeled, args.out)
        else:
            downstream.train_bc_scratch(dcfg, labeled, args.out)
    print(f"{args.stage}: {args.out}")


if __name__ == "__main__":
    main()
