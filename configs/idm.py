"""IDM baseline: the reference's ``configs/idm.yaml`` (dunnolab/laom).

Supervised inverse dynamics trained on the labeled trajectories only: a shared (late-fusion)
encoder at scale 12 and an IDM head of width 1024 predicting a_t from (o_t, o_{t+1}).
"""
from configs import common


def get_config(variant="paper"):
    c = common.lam_config()
    c.model.name = "idm"
    c.model.encoder_scale = 12.0
    c.model.act_head_dim = 1024
    c.model.augment = False  # use_aug
    c.max_offset = 1  # future_obs_offset
    c.num_epochs, c.num_steps = 0, 10_000  # total_updates (10k updates whatever the label budget)
    c.warmup_epochs = 3.0  # epochs over the labeled windows
    c.learning_rate = 1e-4
    common.scale_down(c, variant)
    if variant != "paper":
        c.model.encoder_scale *= 2  # keeps the reference's 2x width over the LAMs' encoder
    return c
