"""LAOM+supervision: the reference's ``configs/laom-labels.yaml`` (dunnolab/laom).

LAOM plus a linear head z -> a_t trained every step on an augmented batch of labeled windows
(k up to max_offset), against the dataset's raw actions.
"""
from configs import laom


def get_config(variant="paper"):
    c = laom.get_config(variant)
    c.model.labeled_loss_coef = 0.001
    if variant == "paper":
        c.labeled_batch_size = 128
    return c
