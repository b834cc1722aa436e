"""LAOM: the reference's ``configs/laom.yaml`` (dunnolab/laom).

Latent-space FDM against an EMA target encoder, shared encoder, MLP heads re-fed their inputs,
multi-step IDM, augmentations on every view.
"""
from configs import common


def get_config(variant="paper"):
    c = common.lam_config()
    c.model.name = "laom"
    c.model.latent_dim = 8192  # latent_action_dim
    c.model.act_head_dim = 1024
    c.model.obs_head_dim = 1024
    c.model.encoder_norm_out = False
    c.model.augment = True  # use_aug
    c.model.ema_tau = 0.001  # target_tau
    c.model.target_update_every = 1
    c.max_offset = 10  # future_obs_offset
    return common.scale_down(c, variant)
