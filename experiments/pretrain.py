"""LAM pretraining (LAPO, LAOM, LAOM+supervision, IDM); resumes from its workdir.

  python -m experiments.pretrain --config=configs/laom.py:smoke --config.workdir=runs/laom \
      --config.data.path=data/dcs_trajectories/cheetah-run_scale_easy_video_hard_64px/1.1.0

Multi-host: the same command on every host with --config.distributed.enabled=True (and, outside
a cluster jax auto-detects, --config.distributed.coordinator_address=HOST:PORT
--config.distributed.num_processes=N --config.distributed.process_id=I).
"""
import json
import os
import sys

from absl import flags
from ml_collections import config_flags

from lam_jax.devices import sharding
from lam_jax.stages import pretrain
from experiments import runtime

_CONFIG = config_flags.DEFINE_config_file("config", None, "LAM config, e.g. configs/laom.py:smoke")
flags.mark_flag_as_required("config")


def main(argv):
    del argv
    if _CONFIG.value.data.path and "--config.data.image_size" in (a.split("=")[0] for a in sys.argv[1:]):
        pretrain.check_image_size(_CONFIG.value)
    report = pretrain.run(_CONFIG.value)
    if sharding.is_main_process():
        print(json.dumps(report, indent=1))
        print(f"report: {os.path.join(_CONFIG.value.workdir, 'report.json')}", file=sys.stderr)


if __name__ == "__main__":
    runtime.run(main)
