"""One line per module of a LAM (or of the BC actor for configs/downstream.py), then ``params: N``.

  python -m experiments.describe --config=configs/laom.py:paper
  python -m experiments.describe --config=configs/downstream.py:paper --latent_dim=8192

Counts are the trainable parameters of the LAM itself (no online probes, no EMA target), as the
reference's torchinfo summaries count them; nothing is allocated (shapes only). 64 px frames,
cheetah-run's 6 actions and 17 state dimensions unless told otherwise.
"""
from absl import app, flags
from ml_collections import config_flags

from lam_jax.models import describe, lams

_CONFIG = config_flags.DEFINE_config_file("config", None, "a LAM config or configs/downstream.py", lock_config=False)
_IMAGE = flags.DEFINE_integer("image_size", 64, "frame size")
_ACTIONS = flags.DEFINE_integer("action_dim", 6, "action dimensions")
_LATENT = flags.DEFINE_integer("latent_dim", 8192, "BC actor output size (downstream.py only)")
flags.mark_flag_as_required("config")


def main(argv):
    del argv
    cfg = _CONFIG.value
    if "model" in cfg:
        model = describe.abstract_lam(cfg, _IMAGE.value, action_dim=_ACTIONS.value)
        total = lams.counted_params(model)
    else:
        model = describe.abstract_actor(cfg, _LATENT.value)
        total = sum(n for *_, n, _ in describe.module_rows(model))
    for name, kind, count, counted in describe.module_rows(model):
        print(f"{name:<20}{kind:<16}{count:>14,d}" + ("" if counted else "  (not counted)"))
    print(f"params: {total}")


if __name__ == "__main__":
    app.run(main)
