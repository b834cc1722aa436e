"""Downstream stages after LAM pretraining (the reference's ``bc`` and ``decoder`` yaml sections).

``--config=configs/downstream.py:VARIANT`` with VARIANT paper, small (or mini) or smoke; a field as
``--config.bc.num_epochs=2`` (``--downstream.bc.num_epochs=2`` for every run of an experiment).
"""
import ml_collections

from configs import common


def get_config(variant="paper"):
    if variant not in common.VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {common.VARIANTS}")
    c = ml_collections.ConfigDict()
    c.variant = variant
    # BC on latent actions (and on IDM labels): the actor regresses the frozen LAM's z(o_t, o_{t+1}).
    c.bc = ml_collections.ConfigDict(dict(
        num_epochs=10, num_steps=0, batch_size=512, learning_rate=1e-4, warmup_steps=0, weight_decay=0.0,
        encoder_scale=32.0, encoder_num_res_blocks=2))  # weight_decay: AdamW's, as the reference's stages
    # Action decoder latent -> action on the frozen actor's outputs for the labeled observations.
    c.decoder = ml_collections.ConfigDict(dict(
        num_steps=2500, batch_size=512, learning_rate=3e-4, hidden_dim=256, weight_decay=0.0))
    # BC from scratch on the labeled trajectories. The reference did not release this script; we use
    # the actor and BC settings with a fixed budget of updates (the IDM baseline's 10k).
    c.bc_scratch = ml_collections.ConfigDict(dict(num_steps=10_000, batch_size=512, learning_rate=1e-4,
                                                  weight_decay=0.0))
    # Evaluation: the reference's protocol is 25 episodes, seeds 0-24, on the training videos.
    c.eval = ml_collections.ConfigDict(dict(
        episodes=25, seed=0, split="train",  # 'eval': the unseen validation videos instead
        workers=2, max_steps=0,  # max_steps 0: whole episodes (1000 steps)
        davis_path="",  # the DAVIS root; "" -> the dataset's own setting (procedural videos if it has none)
        allow_procedural=False))  # evaluate a released dataset (rendered on DAVIS) with procedural videos
    c.log = common.log_config()
    c.dtype = "bfloat16"
    c.seed = 0  # actor and decoder initialisation and batch sampling
    c.num_devices = 0
    c.log_every = 500
    c.save_every = 5000
    if variant in ("small", "mini"):  # mini changes only the LAM
        c.bc.update(num_epochs=0, num_steps=3000, batch_size=64, learning_rate=3e-4, encoder_scale=1.0)
        c.decoder.update(num_steps=1000, batch_size=64)
        c.bc_scratch.update(num_steps=3000, batch_size=64, learning_rate=3e-4)
        c.eval.update(episodes=10)
        c.log_every, c.save_every = 100, 1000
    elif variant == "smoke":
        c.bc.update(num_epochs=0, num_steps=20, batch_size=16, learning_rate=1e-3, encoder_scale=0.5,
                    encoder_num_res_blocks=1)
        c.decoder.update(num_steps=20, batch_size=16, hidden_dim=32)
        c.bc_scratch.update(num_steps=20, batch_size=16, learning_rate=1e-3)
        c.eval.update(episodes=1, max_steps=50)
        c.dtype = "float32"
        c.log_every, c.save_every = 10, 20
    return c
