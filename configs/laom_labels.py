"""LAOM+supervision: LAOM plus a linear latent -> action head on a labeled batch every step."""
from configs import common, laom


def get_config(arg=None):
    variant, overrides = common.split_arg(arg)
    c = laom.get_config(variant)
    c.model.labeled_loss_coef = 0.01  # the paper uses 0.001 for cheetah-run
    return common.apply_overrides(c, overrides)
