"""The README's main job (``experiments/main.py``): the ladder's end points, each through the whole
pipeline (LAM, BC, decoder, evaluation), over seeds.

``get_config(VARIANT)``: its runs and, at ``small``, its budgets.
"""
import ml_collections


def get_config(arg=None):
    variant = arg or "small"
    c = ml_collections.ConfigDict()
    c.lineup = (("lapo", "lapo"), ("laom", "augment"), ("laom_labels", "supervision"))  # method, ladder rung
    # At `small`, so that the whole job fits in 45 minutes on 2 cores (README): 1200 LAM updates (40%
    # of the ladder's 3000, the same 30% warm-up) and 1000 BC updates (2 epochs over the 32k training
    # transitions; `small` runs 3000: last BC loss 0.019-0.025 here, 0.015-0.017 at 3000).
    # --lam.KEY=VALUE / --downstream.KEY=VALUE override them, e.g. --lam.num_steps=3000 --lam.warmup_steps=900.
    c.lam_budget = ("num_steps=1200", "warmup_steps=360") if variant == "small" else ()
    c.downstream_budget = ("bc.num_steps=1000",) if variant == "small" else ()
    # Costliest first, so that the cheapest pipelines fill the end of the job (LAPO's pixel decoder
    # makes it the slowest; per pipeline on 2 busy cores in the timed run: LAPO 7-8.6, LAOM+sup
    # 6.5-7.5, LAOM 6-6.5 min).
    c.cost_order = ("lapo", "laom_labels", "laom")
    return c
