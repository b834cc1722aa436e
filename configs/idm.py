"""IDM baseline: supervised inverse dynamics on the labeled trajectories only."""
from configs import common


def get_config(arg=None):
    variant, overrides = common.split_arg(arg)
    c = common.base_config(variant)
    c.model.name = "idm"
    return common.apply_overrides(c, overrides)
