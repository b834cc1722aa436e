"""Methods by name: their LAM config module, and how their downstream pipeline runs.

A method is what a run trains (a config file: lapo, laom, laom_labels, idm; bc has no LAM); a model
is an architecture (``config.model.name``: lapo, laom, idm). laom_labels is the laom model with a
labeled loss, so its report.json says model "laom" with ``labeled_loss_coef`` > 0.
"""
from __future__ import annotations

import importlib

from configs import common

LAM_CONFIGS = {"lapo": "configs.lapo", "laom": "configs.laom", "laom_labels": "configs.laom_labels",
               "idm": "configs.idm"}
METHODS = tuple(LAM_CONFIGS) + ("bc",)  # bc: BC from scratch on the labeled trajectories


def check(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {list(METHODS)}")
    return method


def lam_config(method: str, variant: str, dataset: str = "", workdir: str = "", overrides=()):
    """The method's LAM config: its file's ``get_config(variant)``, then the KEY=VALUE overrides, pointed
    at dataset and workdir."""
    if method not in LAM_CONFIGS:
        raise ValueError(f"method {method!r} has no LAM; expected one of {sorted(LAM_CONFIGS)}")
    cfg = common.override(importlib.import_module(LAM_CONFIGS[method]).get_config(variant), overrides)
    cfg.data.path, cfg.workdir = dataset, workdir
    return cfg


def uses_decoder(method: str) -> bool:
    """LAMs act through a latent -> action decoder; the IDM's 'latent' already is an action."""
    return method in ("lapo", "laom", "laom_labels")
