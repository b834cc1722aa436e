"""LAPO (Schmidt & Jiang, 2024) as the reference trains it: ``configs/lapo.yaml`` of dunnolab/laom.

Pixel-space FDM, early-fusion IDM, no augmentation. The paper's Fig. 6 ladder starts from this
model with ``model.latent_dim=128`` and ``max_offset=1`` (see configs/ladder.py).
"""
from configs import common


def get_config(variant="paper"):
    c = common.lam_config()
    c.model.name = "lapo"
    c.model.latent_dim = 8192  # latent_action_dim
    c.max_offset = 10  # future_obs_offset
    c.model.augment = False  # train_lapo.py has no augmentation
    return common.scale_down(c, variant)
