"""The paper's Fig. 9a (``experiments/fig9a.py``): eval-split action MSE of a supervised IDM trained
on the k labeled trajectories alone and of LAOM+supervision trained on all with those k labeled.

``get_config(VARIANT)``: its methods and, at ``small``, its LAM budget.
"""
import ml_collections


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    c.methods = {"idm": "IDM (labeled data only)", "laom_labels": "LAOM+supervision"}
    # At `small`, fitting the 24 runs in ~40 min on 2 cores: a third of the ladder's 3000 updates,
    # with the same 30% warm-up; --lam.KEY=VALUE overrides it.
    c.lam_budget = ("num_steps=1000", "warmup_steps=300") if (arg or "small") == "small" else ()
    return c
