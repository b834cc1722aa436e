"""LAOM: latent-space FDM with EMA target, shared encoder, re-injecting MLP heads, augmentations."""
from configs import common


def get_config(arg=None):
    variant, overrides = common.split_arg(arg)
    c = common.base_config(variant)
    c.model.name = "laom"
    c.model.augment = "independent"  # a fresh view per image; beat "shared" and none (see README)
    c.max_offset = 10 if variant == "paper" else 1  # multi-step IDM
    return common.apply_overrides(c, overrides)
