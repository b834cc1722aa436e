"""LAOM+supervision: LAOM plus a linear latent -> action head on a labeled batch every step."""
from configs import common


def get_config(arg=None):
    variant, overrides = common.split_arg(arg)
    c = common.base_config(variant)
    c.model.name = "laom"
    c.model.augment = "independent"  # a fresh view per image; beat "shared" and none (see README)
    c.max_offset = 10 if variant == "paper" else 1  # multi-step IDM
    c.model.labeled_loss_coef = 0.01  # the paper uses 0.001 for cheetah-run
    return common.apply_overrides(c, overrides)
