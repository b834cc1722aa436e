"""Offline linear probes of a trained LAM on held-out episodes (per-dimension MSE).

  python -m experiments.probe --config=configs/probe.py --config.workdir=runs/laom [--config.step=2000]
"""
import json

from absl import app
from ml_collections import config_flags

from lam_jax.stages import probe
from experiments import runtime

_CONFIG = config_flags.DEFINE_config_file("config", "configs/probe.py", "probe config")


def main(argv):
    del argv
    c = _CONFIG.value
    if not c.workdir:
        raise app.UsageError("give --config.workdir (a pretraining run's folder)")
    print(json.dumps(probe.run(c.workdir, c.dataset, c.train_split, c.eval_split, c.l2, c.out, step=c.step), indent=1))


if __name__ == "__main__":
    runtime.run(main)
