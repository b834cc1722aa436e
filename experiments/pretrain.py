"""LAM pretraining (LAPO, LAOM, LAOM+supervision, IDM); resumes from its workdir.

  python -m experiments.pretrain --config=configs/laom.py:smoke --config.workdir=runs/laom \
      --config.data.path=data/dcs_trajectories/cheetah-run_scale_easy_video_hard_64px/1.0.0
"""
import json

from absl import app
from ml_collections import config_flags

from lam_jax.stages import pretrain

_CONFIG = config_flags.DEFINE_config_file("config", None, "LAM config, e.g. configs/laom.py:smoke")


def main(argv):
    del argv
    report = pretrain.run(_CONFIG.value)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    config_flags.mark_flags_as_required(["config"])
    app.run(main)
