"""Offline probes of a pretraining run: ``--config=configs/probe.py --config.workdir=runs/x/lam``."""
import ml_collections


def get_config(arg=None):
    if arg not in (None, "", "default"):
        raise ValueError(f"configs/probe.py has no variants, got {arg!r}")
    c = ml_collections.ConfigDict()
    c.workdir = ""  # the pretraining run's folder
    c.dataset = ""  # '' -> the dataset it was trained on
    c.train_split = "train"  # the ridge probes are fit here
    c.eval_split = "eval"  # ... and scored here (unseen background videos)
    c.l2 = 1e-3
    c.step = 0  # > 0: probe that checkpoint instead of the latest
    c.out = ""  # '' -> {workdir}/probe_report.json (probe_report_step{step}.json with a step)
    return c
