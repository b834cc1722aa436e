"""Load a trained LAM (config, model, model spec) from its workdir: how a later stage picks up one
that another process trained (a pipeline hands its own LAM on in memory, ``recast``)."""
from __future__ import annotations

import os

import ml_collections
from flax import nnx

from lam_jax.models import nets
from lam_jax.models.lams import make_model
from lam_jax.training import run_dir
from lam_jax.training.checkpoint import require_checkpoint, restore_state
from lam_jax.training.train_lam import build_train_state


def load_lam(workdir: str, step: int | None = None, dtype: str | None = None):
    """Returns (cfg, model, model_spec) restored from the latest (or given) checkpoint of a pretraining run;
    ``dtype`` replaces the model's compute dtype (its parameters are float32 either way)."""
    for name in ("config.json", "model_spec.json"):
        if not os.path.isfile(os.path.join(workdir, name)):
            raise FileNotFoundError(f"{workdir!r} is not a pretraining run ({name} missing); "
                                    "run experiments/pretrain.py first")
    cfg = ml_collections.ConfigDict(run_dir.read_json(os.path.join(workdir, "config.json")))
    if dtype:
        cfg.model.dtype = dtype
    model_spec = run_dir.read_json(os.path.join(workdir, "model_spec.json"))
    ckpt = require_checkpoint(os.path.join(workdir, "checkpoints"))
    step = ckpt.latest_step() if step is None else step
    graphdef, state = build_train_state(cfg, model_spec)
    restored = restore_state(ckpt, step, state)
    ckpt.close()
    return cfg, nnx.merge(graphdef, restored)[0], model_spec


def recast(cfg, model_spec: dict, model, dtype: str):
    """``model`` (a LAM just trained under ``cfg``) computing in ``dtype``: the weights are float32
    either way, so this equals ``load_lam(workdir, dtype=dtype)`` without reading the checkpoint."""
    model_cfg = ml_collections.ConfigDict({**cfg.model.to_dict(), "dtype": dtype})
    shape = {k: model_spec[k] for k in ("image_size", "frame_stack", "action_dim", "state_dim")}
    return nets.rebuilt(model, lambda: make_model(model_cfg, **shape, seed=cfg.seed))


def check_frames(model_spec: dict, source, trained: str) -> None:
    """A trained model sees frames of one size: another dataset's must match, named before anything
    is compiled or written (else a shape error deep inside XLA)."""
    if model_spec["image_size"] != source.image_size:
        where = getattr(source, "path", "the data")
        raise ValueError(f"{trained} was trained on {model_spec['image_size']} px frames but {where} holds "
                         f"{source.image_size} px frames: give --dataset a dataset of {model_spec['image_size']} px "
                         "(or train on this one)")
