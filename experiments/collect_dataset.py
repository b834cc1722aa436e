"""Collect expert trajectories in DCS and write a TFDS dataset.

  python -m experiments.collect_dataset --config=configs/collect.py:small
  python -m experiments.collect_dataset --config=configs/collect.py:small --config.env.davis_path=/data/DAVIS
"""

from ml_collections import config_flags

from data_pipeline.make_dataset import build_dataset
from experiments import runtime

_CONFIG = config_flags.DEFINE_config_file("config", "configs/collect.py:small", "collection config")


def main(argv):
    del argv
    path = build_dataset(_CONFIG.value)
    print(f"dataset: {path}")


if __name__ == "__main__":
    runtime.run(main)
