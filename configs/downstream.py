"""Downstream stages: BC on latent actions, action decoder, BC from scratch, env evaluation.

``--config=configs/downstream.py:VARIANT[,key=value...]`` with VARIANT smoke, small or paper.
"""
import ml_collections

from configs import common

#              bc_steps  dec_steps  batch  lr     actor_scale  hidden  episodes
SCALES = {
    "paper": dict(bc=50_000, dec=10_000, bs=256, lr=3e-4, enc=4.0, hid=512, eps=10),
    "small": dict(bc=1500, dec=1000, bs=32, lr=1e-3, enc=0.5, hid=128, eps=4),
    "smoke": dict(bc=20, dec=20, bs=16, lr=1e-3, enc=0.5, hid=64, eps=1),
}


def get_config(arg=None):
    variant, overrides = common.split_arg(arg)
    if variant not in SCALES:
        raise ValueError(f"unknown variant {variant!r}; expected one of {tuple(SCALES)}")
    s = SCALES[variant]
    c = ml_collections.ConfigDict()
    c.variant = variant
    c.bc_steps = s["bc"]  # actor on the full unlabeled dataset
    c.decoder_steps = s["dec"]  # decoder (and BC from scratch) on labeled data: fixed, whatever k
    c.batch_size = s["bs"]
    c.learning_rate = s["lr"]
    c.actor_encoder_scale = s["enc"]
    c.hidden_dim = s["hid"]
    c.eval_episodes = s["eps"]
    c.eval_workers = 2
    c.eval_max_steps = 0  # 0: whole episodes (1000 steps)
    c.eval_seed = 10_000  # eval episode seeds: eval_seed + i (never used in collection)
    c.labeled_trajectories = 4
    c.num_devices = 0
    c.log_every = 50
    c.save_every = 500
    for item in overrides:
        key, value = item.split("=", 1)
        if key not in c:
            raise KeyError(f"unknown config key {key!r}")
        c[key] = type(c[key])(value)
    return c
