"""The search for a CPU regime where LAOM beats LAPO with distractors (``experiments/regime_search.py``).

Each arm is Fig. 6 ladder rungs (``configs/ladder.py``) at a variant with extra overrides, run into
OUT/<arm>/<rung>/seed<N> exactly as ``python -m experiments.ladder --variant=V --rungs=R
--out=OUT/<arm> --lam.KEY=VALUE ...`` runs them, so either command reuses the other's runs.
"""
import ml_collections

N128 = ("num_train=128", "suffix=n128")  # --collect.num_train=128 --collect.suffix=n128


def get_config(arg=None):
    del arg
    c = ml_collections.ConfigDict()
    c.baseline = ("lapo", "lapo")  # (arm, rung) every other row is compared with: the paper's LAPO
    c.arms = [  # name, what it tests, variant, rungs, overrides[, collect overrides: another dataset]
        ("lapo", "small: LAPO, and LAPO with the larger latent", "small", ("lapo", "latent"), ()),
        ("mini", "mini: the ratio-keeping miniature (configs/common.miniature)", "mini",
         ("latent", "augment", "latent_fdm", "supervision"), ()),
        ("mini_aug_half", "mini, augmentation magnitudes halved", "mini", ("augment",),
         ("model.augment_scale=0.5",)),
        # 4x the data (128 trajectories; the eval split is the same), the same 3000 updates
        ("lapo_n128", "small on 128 trajectories: LAPO", "small", ("lapo",), (), N128),
        ("mini_n128", "mini on 128 trajectories", "mini", ("augment", "supervision"), (), N128),
    ]
    return c
