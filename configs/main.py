"""The README's main job (``experiments/main.py``): the paper's premise over seeds, then every
downstream stage where it can mean something.

``get_config(VARIANT)``: its runs and, at ``small``, its budgets.
"""
import ml_collections


def get_config(arg=None):
    variant = arg or "small"
    c = ml_collections.ConfigDict()
    # The premise (Fig. 6, first rung): LAPO trained on the collection with the paper's distractors
    # and on the same collection without them (this preset), same seeds and budget.
    c.method, c.rung = "lapo", "lapo"  # a method of configs.methods, a rung of configs/ladder.py
    c.clean_preset = "vanilla"
    # Downstream runs on the data without distractors, where LAPO's latents carry the action (held-out
    # probe 2.40 at 3000 updates, reports/ladder): BC on those latents with the action decoder on k
    # labeled trajectories, against BC on the true actions of every training trajectory (the ceiling
    # of this data and budget) and a random policy.
    c.downstream_condition = "without"
    # At `small`, so that the whole job, collection included, fits in 40 minutes on 2 idle cores: 1500
    # LAM updates (half the ladder's, the same 30% warm-up); both BCs keep configs/downstream.py's 3000
    # updates (at 1000, BC on the true actions collapsed to the random policy's return on 1 seed of 3).
    # --lam.KEY=VALUE / --downstream.KEY=VALUE override them, e.g. --lam.num_steps=3000
    # --lam.warmup_steps=900.
    c.lam_budget = ("num_steps=1500", "warmup_steps=450") if variant == "small" else ()
    c.downstream_budget = ()
    return c
