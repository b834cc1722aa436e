"""Offline linear probes of a trained LAM on held-out episodes (per-dimension MSE).

  python -m experiments.probe --workdir runs/main/laom [--dataset PATH] [--eval_split eval]
"""
import argparse
import json

from lam_jax.stages import probe


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", required=True, help="a pretraining run's folder")
    p.add_argument("--dataset", default=None, help="dataset dir (default: the one it was trained on)")
    p.add_argument("--train_split", default="train")
    p.add_argument("--eval_split", default="eval")
    p.add_argument("--l2", type=float, default=1e-3)
    args = p.parse_args()
    print(json.dumps(probe.run(args.workdir, args.dataset, args.train_split, args.eval_split, args.l2), indent=1))


if __name__ == "__main__":
    main()
