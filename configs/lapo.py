"""LAPO: pixel-space FDM, IDM on stacked frames (Schmidt & Jiang, 2024)."""
from configs import common


def get_config(arg=None):
    variant, overrides = common.split_arg(arg)
    c = common.base_config(variant)
    c.model.name = "lapo"
    if variant == "paper":
        c.model.latent_dim = 128
        c.model.encoder_scale = 4.0
    return common.apply_overrides(c, overrides)
