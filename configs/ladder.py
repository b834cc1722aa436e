"""The paper's Fig. 6 ladder (``experiments/ladder.py``): from LAPO to LAOM one change at a time,
then supervision. Each rung is a run of a method config with overrides.

``get_config(VARIANT)``: the rungs at that variant; "larger latent" is the variant's LAOM latent
(8192 at ``paper``, 1024 at ``small``, 171 at ``mini``). The experiment's ``--lam.KEY=VALUE`` overrides apply to every
rung alike, after the rung's own (``--lam.model.latent_dim`` would set the 128-latent rungs' too).
"""
import ml_collections

from configs import laom

# The paper's Fig. 6 (median over the four tasks), with distractors and without, for scale.
PAPER_FIG6 = {"lapo": 22.09, "multistep": 9.54, "latent": 3.89, "latent_fdm": 5.22, "augment": 2.74}
PAPER_FIG6_CLEAN = {"lapo": 2.55, "augment": 1.93}


def get_config(variant="small"):
    large = laom.get_config(variant).model.latent_dim
    c = ml_collections.ConfigDict()
    c.rungs = [  # name, label, method, overrides
        ("lapo", "LAPO (k=1, latent 128)", "lapo", ("model.latent_dim=128", "max_offset=1")),
        ("multistep", "+ multi-step IDM (k<=10)", "lapo", ("model.latent_dim=128", "max_offset=10")),
        ("latent", f"+ larger latent ({large})", "lapo", (f"model.latent_dim={large}", "max_offset=10")),
        # The reference's ablation used a LayerNorm-ed encoder output without augmentation.
        ("latent_fdm", "+ latent-space FDM (LAOM, no aug.)", "laom",
         (f"model.latent_dim={large}", "model.augment=false", "model.encoder_norm_out=true")),
        ("augment", "+ augmentations (LAOM)", "laom", (f"model.latent_dim={large}",)),
        ("supervision", "+ supervision (LAOM+sup)", "laom_labels", (f"model.latent_dim={large}",)),
    ]
    c.clean_rungs = ("lapo", "latent", "augment")  # also run on the data without distractors by default
    return c
