"""The search for a CPU regime where LAOM beats LAPO with distractors (``experiments/regime_search.py``).

Each arm is Fig. 6 ladder rungs (``configs/ladder.py``) at a variant with extra overrides, run into
OUT/<arm>/<rung>/seed<N> exactly as ``python -m experiments.ladder --variant=V --rungs=R
--out=OUT/<arm> --lam.KEY=VALUE ...`` runs them, so either command reuses the other's runs.
"""
import ml_collections

from configs import common, laom_labels

N128 = ("num_train=128", "suffix=n128")  # --collect.num_train=128 --collect.suffix=n128
PX64 = ("env.image_size=64",)  # --collect.env.image_size=64
CLEAN = ("env.preset=vanilla",)  # --collect.env.preset=vanilla: the same collection without distractors


def rule(num_steps: int = 3000, image_size: int = 32, encoder_scale: float = 0.5) -> tuple:
    """The miniature's sizes and rates for other compute (common.miniature), as overrides of a mini
    run; they also set the larger-latent rungs' latent."""
    c = laom_labels.get_config("paper")
    c.model.encoder_scale, c.num_steps = encoder_scale, num_steps
    m = common.miniature(c, c.model.latent_dim, image_size).model
    return (f"num_steps={num_steps}", f"model.encoder_scale={encoder_scale}", f"model.latent_dim={m.latent_dim}",
            f"model.act_head_dim={m.act_head_dim}", f"model.obs_head_dim={m.obs_head_dim}",
            f"model.ema_tau={m.ema_tau}", f"warmup_steps={c.warmup_steps}",
            f"probe_learning_rate={c.probe_learning_rate}", f"label_head_learning_rate={c.label_head_learning_rate}")


def get_config(arg=None):
    del arg
    c = ml_collections.ConfigDict()
    c.baseline = ("lapo", "lapo")  # (arm, rung) every other row is compared with: the paper's LAPO
    c.arms = [  # name, what it tests, variant, rungs, overrides[, collect overrides: another dataset]
        ("lapo", "small: LAPO", "small", ("lapo",), ()),
        ("mini", "mini: the ratio-keeping miniature (configs/common.miniature)", "mini",
         ("latent", "augment", "latent_fdm", "supervision"), ()),
        ("mini_aug_half", "mini, augmentation magnitudes halved", "mini", ("augment",),
         ("model.augment_scale=0.5",)),
        # Beyond the paper: at 32 px, independent transforms of o_t and o_{t+k} may hide the body's
        # motion from the IDM; one transform for the pair (or for all three views) keeps it.
        ("mini_aug_pair", "mini, one transform for the IDM's two views", "mini", ("augment",),
         ("model.augment_views=pair",)),
        # 4x the data (128 trajectories; the eval split is the same), the same 3000 updates
        ("lapo_n128", "small on 128 trajectories: LAPO", "small", ("lapo",), (), N128),
        ("mini_n128", "mini on 128 trajectories", "mini", ("augment",), (), N128),
        # Not run yet (hours of CPU each; the README command runs every arm and resumes):
        ("mini_enc2x", "mini with a 2x wider encoder", "mini", ("latent_fdm", "augment", "supervision"),
         rule(encoder_scale=1.0)),
        ("lapo_10k", "small, 10k updates: LAPO", "small", ("lapo",), ("num_steps=10000", "warmup_steps=3000")),
        ("mini_10k", "mini, 10k updates", "mini", ("augment", "supervision"), rule(num_steps=10_000)),
        ("lapo_64px", "small at 64 px: LAPO", "small", ("lapo",), (), PX64),
        ("mini_64px", "mini at 64 px", "mini", ("augment",), rule(image_size=64), PX64),
        # Without distractors: does the miniature's LAOM learn the action where nothing distracts it?
        ("lapo_clean", "small without distractors: LAPO", "small", ("lapo",), (), CLEAN),
        ("mini_clean", "mini without distractors", "mini", ("augment",), (), CLEAN),
    ]
    # The gap's trend (experiments/regime_trend.py): LAPO and LAOM rows at other data and resolution,
    # the first the reference setting; each row also probed at its kept checkpoint of trend_step.
    c.trend_step = 2000
    c.trend = [  # label, LAPO (arm, rung), LAOM (arm, rung), trajectories, px
        ("32 trajectories, 32 px", ("lapo", "lapo"), ("mini", "augment"), 32, 32),
        ("128 trajectories, 32 px", ("lapo_n128", "lapo"), ("mini_n128", "augment"), 128, 32),
        ("32 trajectories, 64 px", ("lapo_64px", "lapo"), ("mini_64px", "augment"), 32, 64),
    ]
    return c
