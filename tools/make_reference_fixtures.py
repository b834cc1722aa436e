#!/usr/bin/env python
"""Writes the reference oracle: small fixtures computed by the paper's own PyTorch code.

    python tools/make_reference_fixtures.py --reference=PATH_TO_LAOM_CHECKOUT [--out tests/fixtures/reference]

Needs torch (CPU), vector-quantize-pytorch and, for the augmentation fixture, torchvision, in an
environment of its own: none of them is a dependency of lam-jax. PATH is a checkout (or `git
archive` export) of dunnolab/laom at the commit in REFERENCE_COMMIT. The reference's models, its
``normalize_img``, ``get_optim_groups``, ``soft_update``, ``linear_annealing_with_warmup``,
``Augmenter`` and vector_quantize_pytorch's ``FSQ`` are imported and run as they are; only the
environment-side imports of ``src/utils.py`` (gymnasium, shimmy, h5py, the DCS suite) are replaced
by empty stand-ins, since no environment or HDF5 file is touched.

For every method the script replays the first two iterations of the reference training loop
(``train_lapo.py``, ``train_laom.py``, ``train_laom_labels.py``, ``train_idm.py`` and the BC and
action-decoder stages of ``train_laom.py``) on two fixed batches, and stores, per method, one
compressed npz in tests/fixtures/reference/ holding

- ``weights/NAME``: every parameter before the first update, under its torch name and in torch
  layout (probes under the training script's variable names, LAOM's EMA target as ``target.*``);
- ``inputs/KEY``: the uint8 frame stacks [B, H, W, 3*S] (channels-last, as the datasets yield them)
  and the float32 action and state vectors of the first batch;
- ``outputs/KEY``: forward outputs of the first iteration (in torch layout: flattened embeddings
  are in (C, H, W) order);
- ``loss0/KEY``, ``loss1/KEY``: every loss term of each iteration;
- ``grads0/NAME``, ``grads1/NAME``: the gradients of each iteration (model and probes);
- ``after0/NAME``, ``after1/NAME``: parameters after each optimiser (and scheduler) step, stored
  only where they differ from the previous value (bit-for-bit), so an absent name means "unchanged";
- ``lr/KEY``: the learning rates each optimiser used at each step.

The second batch is the first one reversed along the batch axis, with every image mirrored left to
right (``second_batch``), so the fixtures hold one set of inputs.

Choices, so that the comparison is exact:
- float32 throughout: the training scripts' ``torch.autocast(bfloat16)`` is disabled; the first
  forward of LAOM and LAPO is also recorded under CPU autocast (``outputs_bf16/``), so a test can
  compare how far our bf16 path and the reference's lie from float32;
- augmentation off in the loss fixtures (``use_aug=False``, the scripts' own branch); the
  augmentation is checked on its own (``augment.npz``) by recording the reference's random draws;
- weights: the reference's seeded init, then biases and LayerNorm parameters perturbed away from
  their init (zero and one), and LAOM's EMA target perturbed away from the online encoder (as it is
  after training started), so that a wrong layout, a wrong parameter or the wrong encoder shows;
- schedules: the dataloader length is STEPS_PER_EPOCH, so LAM warm-up lasts 3 * 4 updates and the
  first update has learning rate 0, as in the scripts; the second one does not.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import sys
import types

import numpy as np

REFERENCE_COMMIT = "e13319533e7b3d5fd974a8a46f4c4892547f30ec"
REFERENCE_FILES = (
    "src/nn.py",
    "src/utils.py",
    "src/scheduler.py",
    "src/augmentations.py",
    "train_lapo.py",
    "train_laom.py",
    "train_laom_labels.py",
    "train_idm.py",
)
SEED = 17
# Small sizes: the same architectures, narrow enough that all fixtures take a few MB.
SIZES = dict(
    image_size=32,  # frames; augmentation is off in the loss fixtures (augment.npz uses 64 px)
    frame_stack=3,
    batch_size=8,
    labeled_batch_size=8,
    channels=(4, 8, 8),  # the reference's (16, 32, 32) at a quarter of encoder_scale 1
    num_res_blocks=2,
    latent_dim=16,
    act_head_dim=20,
    obs_head_dim=12,
    action_dim=3,
    state_dim=5,
    decoder_hidden_dim=12,
    levels=16,  # pixel values k * 17, k = 0..15 (0 and 255 included), so the inputs compress
)
STEPS_PER_EPOCH = 4
# The reference yamls' settings for each stage.
TRAIN = dict(
    lam=dict(
        learning_rate=1e-4,
        weight_decay=0.0,
        num_epochs=10,
        warmup_epochs=3,
        target_tau=0.001,
        target_update_every=1,
        labeled_loss_coef=0.001,
    ),
    idm=dict(learning_rate=1e-4, weight_decay=0.0, total_updates=10_000, warmup_epochs=3),
    bc=dict(learning_rate=1e-4, weight_decay=0.0, num_epochs=10, warmup_epochs=0),
    decoder=dict(learning_rate=3e-4, weight_decay=0.0, total_updates=2500, warmup_epochs=0),
)


# -- importing the reference ------------------------------------------------------------------------
class _Placeholder:
    def __init__(self, *args, **kwargs):
        pass


class _StandIn(types.ModuleType):
    """A module whose every attribute is a placeholder class (for imports never used here)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Placeholder


def import_reference(path: str):
    for name in ("gymnasium", "gymnasium.wrappers", "gymnasium.spaces", "shimmy", "h5py", "src.dcs", "src.dcs.suite"):
        sys.modules[name] = _StandIn(name)
    sys.path.insert(0, os.path.abspath(path))
    import src.nn as ref_nn
    import src.scheduler as ref_scheduler
    import src.utils as ref_utils

    return types.SimpleNamespace(nn=ref_nn, utils=ref_utils, scheduler=ref_scheduler)


def import_augmentations():
    """src.augmentations. When torchvision's compiled extension does not load (a wheel built for
    another torch), its operator registrations are skipped: the transforms used here only call torch."""
    import glob
    import importlib.util

    import torch

    root = os.path.dirname(importlib.util.find_spec("torchvision").origin)
    try:
        for lib in glob.glob(os.path.join(root, "_C*.so")):
            torch.ops.load_library(lib)
    except OSError:
        sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
    import src.augmentations as ref_aug

    return ref_aug


def reference_identity(path: str) -> dict:
    hashes = {}
    for name in REFERENCE_FILES:
        with open(os.path.join(path, name), "rb") as f:
            hashes[name] = hashlib.sha256(f.read()).hexdigest()
    return hashes


# -- helpers ------------------------------------------------------------------------------------------
def second_batch(batch: dict) -> dict:
    """The second iteration's batch: the first reversed along the batch axis, images mirrored left to
    right ([B, H, W, C] arrays: axis 2). tests/test_reference_equivalence.py applies the same."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, dict):
            out[key] = second_batch(value)
        elif value.ndim == 4:
            out[key] = np.ascontiguousarray(value[::-1, :, ::-1])
        else:
            out[key] = np.ascontiguousarray(value[::-1])
    return out


def make_inputs(rng, views, vectors, batch_size):
    s = SIZES
    batch = {}
    for view in views:
        batch[view] = (
            rng.integers(0, s["levels"], (batch_size, s["image_size"], s["image_size"], 3 * s["frame_stack"]))
            * (255 // (s["levels"] - 1))
        ).astype(np.uint8)
    for name, dim in vectors.items():
        batch[name] = (rng.normal(size=(batch_size, dim)) * 1.5).astype(np.float32)
    return batch


class Recorder:
    def __init__(self):
        self.arrays = {}

    def put(self, key, value):
        import torch

        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        self.arrays[key] = np.array(value, order="C")  # 0-d stays 0-d

    def params(self, group, named: dict, previous: dict | None = None):
        """named: {name: tensor}; with ``previous`` only what changed (bit-for-bit) is stored."""
        current = {}
        for name, p in named.items():
            value = p.detach().cpu().numpy().copy()
            current[name] = value
            if previous is None or not np.array_equal(previous[name], value):
                self.put(f"{group}/{name}", value)
        return current

    def grads(self, group, named: dict):
        for name, p in named.items():
            if p.grad is not None:
                self.put(f"{group}/{name}", p.grad)

    def save(self, path):
        np.savez_compressed(path, **self.arrays)


def perturb(module, gen, *, everything=False, scale=0.1):
    """Moves every 1-D parameter (biases, LayerNorm scales and offsets) away from its init; with
    ``everything`` the weights too."""
    import torch

    with torch.no_grad():
        for p in module.parameters():
            if p.ndim == 1 or everything:
                p.add_(scale * torch.randn(p.shape, generator=gen))


def named(module, prefix=""):
    return {prefix + n: p for n, p in module.named_parameters()}


def to_nchw(ref, frames):
    import torch

    return ref.utils.normalize_img(torch.from_numpy(frames).permute((0, 3, 1, 2)))


def adam(ref, module, lr, weight_decay, warmup, total, *, adamw=False):
    """The scripts' optimiser: Adam(W) over get_optim_groups, fused, under linear_annealing_with_warmup."""
    import torch

    cls = torch.optim.AdamW if adamw else torch.optim.Adam
    opt = cls(params=ref.utils.get_optim_groups(module, weight_decay), lr=lr, fused=True)
    return opt, ref.scheduler.linear_annealing_with_warmup(opt, warmup, total)


def optimise(opt, loss, sched=None):
    """One step of a training script's loop: zero_grad(set_to_none), backward, step, scheduler step."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if sched is not None:
        sched.step()


def current_lr(opt):
    return opt.param_groups[0]["lr"]


# -- the methods --------------------------------------------------------------------------------------
def autocast_forward(model, obs, future):
    """The same forward under the training scripts' ``torch.autocast(bfloat16)`` (here on CPU), in
    float32: how far the reference's bf16 path lies from its float32 one."""
    import torch

    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        return tuple(x.float() for x in model(obs, future))


def lam_schedule():
    t = TRAIN["lam"]
    return STEPS_PER_EPOCH * t["warmup_epochs"], STEPS_PER_EPOCH * t["num_epochs"]


def laom_fixture(ref, with_labels: bool):
    """train_laom.py / train_laom_labels.py ``train_laom``: use_aug=False, encoder_norm_out=False."""
    import torch
    import torch.nn.functional as F

    s, t = SIZES, TRAIN["lam"]
    torch.manual_seed(SEED + 1 + with_labels)
    gen = torch.Generator().manual_seed(SEED + 11 + with_labels)
    shape = (3 * s["frame_stack"], s["image_size"], s["image_size"])
    kwargs = dict(
        shape=shape,
        latent_act_dim=s["latent_dim"],
        act_head_dim=s["act_head_dim"],
        obs_head_dim=s["obs_head_dim"],
        encoder_scale=1,
        encoder_channels=s["channels"],
        encoder_num_res_blocks=s["num_res_blocks"],
        encoder_dropout=0.0,
        encoder_norm_out=False,
    )
    if with_labels:
        model = ref.nn.LAOMWithLabels(true_act_dim=s["action_dim"], **kwargs)
    else:
        model = ref.nn.LAOM(**kwargs)
    perturb(model, gen)
    target = copy.deepcopy(model)
    perturb(target.encoder, gen, everything=True, scale=0.02)
    for p in target.parameters():
        p.requires_grad_(False)
    emb = int(np.prod(model.final_encoder_shape))
    probes = {
        "state_probe": torch.nn.Linear(emb, s["state_dim"]),
        "act_linear_probe": torch.nn.Linear(s["latent_dim"], s["action_dim"]),
        "state_act_linear_probe": torch.nn.Linear(emb, s["action_dim"]),
    }
    for probe in probes.values():
        perturb(probe, gen)
    warmup, total = lam_schedule()
    opt, sched = adam(ref, model, t["learning_rate"], t["weight_decay"], warmup, total)
    probe_opts = {k: torch.optim.Adam(p.parameters(), lr=t["learning_rate"]) for k, p in probes.items()}

    rng = np.random.default_rng(SEED + with_labels)
    batch = make_inputs(
        rng, ("obs", "next", "future"), {"action": s["action_dim"], "state": s["state_dim"]}, s["batch_size"]
    )
    if with_labels:
        batch["labeled"] = make_inputs(rng, ("obs", "future"), {"action": s["action_dim"]}, s["labeled_batch_size"])
    rec = Recorder()
    params = dict(named(model))
    for k, p in probes.items():
        params.update(named(p, k + "."))
    target_params = named(target.encoder, "target.encoder.")
    prev = rec.params("weights", {**params, **target_params})
    initial = copy.deepcopy(model)
    for step, b in enumerate((batch, second_batch(batch))):
        obs, nxt, future = (to_nchw(ref, b[k]) for k in ("obs", "next", "future"))
        latent_next_obs, latent_action, obs_hidden = model(obs, future)
        with torch.no_grad():
            next_obs_target = target.encoder(nxt).flatten(1)
        loss0 = F.mse_loss(latent_next_obs, next_obs_target.detach())
        losses = {"fdm": loss0}
        loss = loss0
        if with_labels:
            lab = b["labeled"]
            _, _, pred_action, _ = model(to_nchw(ref, lab["obs"]), to_nchw(ref, lab["future"]), predict_true_act=True)
            loss1 = F.mse_loss(pred_action, torch.from_numpy(lab["action"]))
            losses["labeled_action"] = loss1
            loss = loss0 + t["labeled_loss_coef"] * loss1
        losses["total"] = loss
        if step == 0:
            rec.put("outputs/latent_action", latent_action)
            rec.put("outputs/latent_next_obs", latent_next_obs)
            rec.put("outputs/obs_hidden", obs_hidden.flatten(1))
            rec.put("outputs/next_obs_target", next_obs_target)
            if with_labels:
                rec.put("outputs/labeled_pred_action", pred_action)
            else:
                bf16 = autocast_forward(model, obs, future)
                for name, value in zip(("latent_next_obs", "latent_action", "obs_hidden"), bf16):
                    rec.put(f"outputs_bf16/{name}", value.flatten(1))
        rec.put(f"lr/model{step}", current_lr(opt))
        optimise(opt, loss, sched)
        if step % t["target_update_every"] == 0:
            ref.utils.soft_update(target, model, tau=t["target_tau"])
        inputs = {
            "state_probe": (obs_hidden, b["state"]),
            "act_linear_probe": (latent_action, b["action"]),
            "state_act_linear_probe": (obs_hidden, b["action"]),
        }
        for k, probe in probes.items():
            x, y = inputs[k]
            probe_loss = F.mse_loss(probe(x.detach()), torch.from_numpy(y))
            optimise(probe_opts[k], probe_loss)
            losses[k] = probe_loss
        for k, v in losses.items():
            rec.put(f"loss{step}/{k}", v)
        rec.grads(f"grads{step}", params)
        prev = rec.params(f"after{step}", {**params, **named(target.encoder, "target.encoder.")}, prev)
    rec.put("lr/probe", t["learning_rate"])
    for k, v in batch.items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                rec.put(f"inputs/labeled/{kk}", vv)
        else:
            rec.put(f"inputs/{k}", v)
    meta = {
        "class": "LAOMWithLabels" if with_labels else "LAOM",
        "script": "train_laom_labels.py" if with_labels else "train_laom.py",
        "warmup_updates": warmup,
        "total_updates": total,
        "feature_shape_chw": list(model.final_encoder_shape),
        **t,
    }
    if not with_labels:
        meta.pop("labeled_loss_coef")
    return rec, meta, initial


def lapo_fixture(ref):
    """train_lapo.py ``train_lapo`` (no augmentation in that script)."""
    import torch
    import torch.nn.functional as F

    s, t = SIZES, TRAIN["lam"]
    torch.manual_seed(SEED + 3)
    gen = torch.Generator().manual_seed(SEED + 13)
    model = ref.nn.LAPO(
        shape=(3 * s["frame_stack"], s["image_size"], s["image_size"]),
        latent_act_dim=s["latent_dim"],
        encoder_scale=1,
        encoder_channels=s["channels"],
        encoder_num_res_blocks=s["num_res_blocks"],
    )
    perturb(model, gen)
    probe = torch.nn.Linear(s["latent_dim"], s["action_dim"])
    perturb(probe, gen)
    warmup, total = lam_schedule()
    opt, sched = adam(ref, model, t["learning_rate"], t["weight_decay"], warmup, total)
    probe_opt = torch.optim.Adam(probe.parameters(), lr=t["learning_rate"])
    rng = np.random.default_rng(SEED + 3)
    batch = make_inputs(rng, ("obs", "next", "future"), {"action": s["action_dim"]}, s["batch_size"])
    rec = Recorder()
    params = {**named(model), **named(probe, "linear_probe.")}
    prev = rec.params("weights", params)
    for step, b in enumerate((batch, second_batch(batch))):
        obs, nxt, future = (to_nchw(ref, b[k]) for k in ("obs", "next", "future"))
        pred_next_obs, latent_action = model(obs, future)
        loss = F.mse_loss(pred_next_obs, nxt)
        if step == 0:
            rec.put("outputs/latent_action", latent_action)
            rec.put("outputs/pred_next_obs", pred_next_obs[:2])  # two examples keep the file small
            bf16_pred, bf16_latent = autocast_forward(model, obs, future)
            rec.put("outputs_bf16/latent_action", bf16_latent)
            rec.put("outputs_bf16/pred_next_obs", bf16_pred[:2])
        rec.put(f"lr/model{step}", current_lr(opt))
        optimise(opt, loss, sched)
        probe_loss = F.mse_loss(probe(latent_action.detach()), torch.from_numpy(b["action"]))
        optimise(probe_opt, probe_loss)
        rec.put(f"loss{step}/fdm", loss)
        rec.put(f"loss{step}/linear_probe", probe_loss)
        rec.grads(f"grads{step}", params)
        prev = rec.params(f"after{step}", params, prev)
    rec.put("lr/probe", t["learning_rate"])
    for k, v in batch.items():
        rec.put(f"inputs/{k}", v)
    meta = {
        "class": "LAPO",
        "script": "train_lapo.py",
        "warmup_updates": warmup,
        "total_updates": total,
        "feature_shape_chw": list(model.fdm.final_encoder_shape),
        "learning_rate": t["learning_rate"],
        "weight_decay": t["weight_decay"],
        "num_epochs": t["num_epochs"],
        "warmup_epochs": t["warmup_epochs"],
    }
    return rec, meta


def idm_fixture(ref):
    """train_idm.py ``train_idm`` (use_aug False in configs/idm.yaml)."""
    import torch
    import torch.nn.functional as F

    s, t = SIZES, TRAIN["idm"]
    torch.manual_seed(SEED + 4)
    gen = torch.Generator().manual_seed(SEED + 14)
    model = ref.nn.IDMLabels(
        shape=(3 * s["frame_stack"], s["image_size"], s["image_size"]),
        act_dim=s["action_dim"],
        encoder_scale=1,
        encoder_channels=s["channels"],
        encoder_num_res_blocks=s["num_res_blocks"],
        act_head_dim=s["act_head_dim"],
    )
    perturb(model, gen)
    emb = int(np.prod(model.final_encoder_shape))
    probe = torch.nn.Linear(emb, s["state_dim"])
    perturb(probe, gen)
    num_epochs = t["total_updates"] // STEPS_PER_EPOCH
    warmup, total = STEPS_PER_EPOCH * t["warmup_epochs"], STEPS_PER_EPOCH * num_epochs
    opt, sched = adam(ref, model, t["learning_rate"], t["weight_decay"], warmup, total)
    probe_opt = torch.optim.Adam(probe.parameters(), lr=t["learning_rate"])
    rng = np.random.default_rng(SEED + 4)
    batch = make_inputs(rng, ("obs", "future"), {"action": s["action_dim"], "state": s["state_dim"]}, s["batch_size"])
    rec = Recorder()
    params = {**named(model), **named(probe, "state_probe.")}
    prev = rec.params("weights", params)
    for step, b in enumerate((batch, second_batch(batch))):
        obs, future = to_nchw(ref, b["obs"]), to_nchw(ref, b["future"])
        pred_action, obs_emb = model(obs, future)
        loss = F.mse_loss(pred_action, torch.from_numpy(b["action"]))
        if step == 0:
            rec.put("outputs/pred_action", pred_action)
            rec.put("outputs/obs_emb", obs_emb)
        rec.put(f"lr/model{step}", current_lr(opt))
        optimise(opt, loss, sched)
        probe_loss = F.mse_loss(probe(obs_emb.detach()), torch.from_numpy(b["state"]))
        optimise(probe_opt, probe_loss)
        rec.put(f"loss{step}/action", loss)
        rec.put(f"loss{step}/state_probe", probe_loss)
        rec.grads(f"grads{step}", params)
        prev = rec.params(f"after{step}", params, prev)
    rec.put("lr/probe", t["learning_rate"])
    for k, v in batch.items():
        rec.put(f"inputs/{k}", v)
    meta = {
        "class": "IDMLabels",
        "script": "train_idm.py",
        "warmup_updates": warmup,
        "total_updates": total,
        "feature_shape_chw": list(model.final_encoder_shape),
        **t,
    }
    return rec, meta


def actor_kwargs(out_dim):
    s = SIZES
    return dict(
        shape=(3 * s["frame_stack"], s["image_size"], s["image_size"]),
        num_actions=out_dim,
        encoder_scale=1,
        encoder_channels=s["channels"],
        encoder_num_res_blocks=s["num_res_blocks"],
        dropout=0.0,
    )


def bc_fixture(ref, lam):
    """train_laom.py ``train_bc`` (the same in the other scripts): targets lam.label(o_t, o_{t+1}) of the
    frozen LAM (laom.npz's initial weights), actor under AdamW; use_aug False. The debugging decoder
    the reference also trains there is not part of the pipeline and not recorded."""
    import torch
    import torch.nn.functional as F

    s, t = SIZES, TRAIN["bc"]
    for p in lam.parameters():
        p.requires_grad_(False)
    lam.eval()
    torch.manual_seed(SEED + 5)
    gen = torch.Generator().manual_seed(SEED + 15)
    actor = ref.nn.Actor(**actor_kwargs(lam.latent_act_dim))
    perturb(actor, gen)
    warmup, total = STEPS_PER_EPOCH * t["warmup_epochs"], STEPS_PER_EPOCH * t["num_epochs"]
    opt, sched = adam(ref, actor, t["learning_rate"], t["weight_decay"], warmup, total, adamw=True)
    rng = np.random.default_rng(SEED + 5)
    batch = make_inputs(rng, ("obs", "next"), {"action": s["action_dim"]}, s["batch_size"])
    rec = Recorder()
    params = named(actor)
    prev = rec.params("weights", params)
    initial = copy.deepcopy(actor)
    for step, b in enumerate((batch, second_batch(batch))):
        obs, nxt = to_nchw(ref, b["obs"]), to_nchw(ref, b["next"])
        target_actions = lam.label(obs, nxt)
        pred_actions, obs_emb = actor(obs)
        loss = F.mse_loss(pred_actions, target_actions)
        if step == 0:
            rec.put("outputs/target_actions", target_actions)
            rec.put("outputs/pred_actions", pred_actions)
            rec.put("outputs/obs_emb", obs_emb)
        rec.put(f"lr/model{step}", current_lr(opt))
        optimise(opt, loss, sched)
        rec.put(f"loss{step}/bc", loss)
        rec.grads(f"grads{step}", params)
        prev = rec.params(f"after{step}", params, prev)
    for k, v in batch.items():
        rec.put(f"inputs/{k}", v)
    meta = {
        "class": "Actor",
        "script": "train_laom.py (train_bc)",
        "lam": "laom.npz weights (LAOM)",
        "warmup_updates": warmup,
        "total_updates": total,
        **t,
    }
    return rec, meta, initial


def decoder_fixture(ref, actor):
    """train_laom.py ``train_act_decoder``: the frozen actor (bc.npz's initial weights) maps o_t to a
    latent; ActionDecoder regresses the true action under AdamW; use_aug False."""
    import torch
    import torch.nn.functional as F

    s, t = SIZES, TRAIN["decoder"]
    for p in actor.parameters():
        p.requires_grad_(False)
    actor.eval()
    torch.manual_seed(SEED + 6)
    gen = torch.Generator().manual_seed(SEED + 16)
    decoder = ref.nn.ActionDecoder(
        obs_emb_dim=int(np.prod(actor.final_encoder_shape)),
        latent_act_dim=actor.num_actions,
        true_act_dim=s["action_dim"],
        hidden_dim=s["decoder_hidden_dim"],
    )
    perturb(decoder, gen)
    num_epochs = t["total_updates"] // STEPS_PER_EPOCH
    warmup, total = STEPS_PER_EPOCH * t["warmup_epochs"], STEPS_PER_EPOCH * num_epochs
    opt, sched = adam(ref, decoder, t["learning_rate"], t["weight_decay"], warmup, total, adamw=True)
    rng = np.random.default_rng(SEED + 6)
    batch = make_inputs(rng, ("obs",), {"action": s["action_dim"]}, s["batch_size"])
    rec = Recorder()
    params = named(decoder)
    prev = rec.params("weights", params)
    for step, b in enumerate((batch, second_batch(batch))):
        obs = to_nchw(ref, b["obs"])
        with torch.no_grad():
            latent_actions, obs_emb = actor(obs)
        pred_actions = decoder(obs_emb, latent_actions)
        loss = F.mse_loss(pred_actions, torch.from_numpy(b["action"]))
        if step == 0:
            rec.put("outputs/latent_actions", latent_actions)
            rec.put("outputs/pred_actions", pred_actions)
        rec.put(f"lr/model{step}", current_lr(opt))
        optimise(opt, loss, sched)
        rec.put(f"loss{step}/decoder", loss)
        rec.grads(f"grads{step}", params)
        prev = rec.params(f"after{step}", params, prev)
    for k, v in batch.items():
        rec.put(f"inputs/{k}", v)
    meta = {
        "class": "ActionDecoder",
        "script": "train_laom.py (train_act_decoder)",
        "actor": "bc.npz weights",
        "warmup_updates": warmup,
        "total_updates": total,
        **t,
    }
    return rec, meta


# -- schedule, epochs, FSQ, augmentation -----------------------------------------------------------------
SCHEDULES = ((12, 40), (3, 10), (0, 40), (0, 7))  # (warmup, total) updates


def schedule_fixture(ref):
    """linear_annealing_with_warmup's learning rate at every update, and the dataloader lengths the
    scripts derive their schedules from (len(DataLoader) with and without drop_last)."""
    import torch

    rec = Recorder()
    peak = 1e-4
    for warmup, total in SCHEDULES:
        param = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.Adam([param], lr=peak)
        sched = ref.scheduler.linear_annealing_with_warmup(opt, warmup, total)
        lrs = []
        for _ in range(total):
            lrs.append(current_lr(opt))
            opt.step()
            sched.step()
        rec.put(f"lr/{warmup}_{total}", np.asarray(lrs, np.float64))
    windows = np.asarray([100, 511, 512, 513, 9990, 10_000, 45_678])
    rec.put("epochs/windows", windows)
    for drop_last in (False, True):
        lengths = [
            len(torch.utils.data.DataLoader(range(int(n)), batch_size=512, drop_last=drop_last)) for n in windows
        ]
        rec.put(f"epochs/len_drop_last_{drop_last}", np.asarray(lengths))
    meta = {
        "peak": peak,
        "schedules": [list(x) for x in SCHEDULES],
        "batch_size": 512,
        "drop_last": {
            "train_laom.py": False,
            "train_laom_labels.py": False,
            "train_lapo.py": True,
            "train_idm.py": False,
            "train_bc": True,
            "train_act_decoder": False,
        },
    }
    return rec, meta


FSQ_LEVELS = ((2, 2, 2, 2), (3, 3, 3, 3), (4, 4, 4, 4), (5, 5, 5, 5), (8, 8, 8, 8), (2, 2, 4))


def fsq_fixture():
    """vector_quantize_pytorch FSQ (as LAPOFSQ's IDMFSQ calls it on [B, n, len(levels)]): codes and
    the straight-through gradient for a random cotangent."""
    import torch
    from vector_quantize_pytorch import FSQ

    rec = Recorder()
    rng = np.random.default_rng(SEED + 7)
    for levels in FSQ_LEVELS:
        name = "_".join(map(str, levels))
        quantizer = FSQ(levels=list(levels))
        z = (rng.normal(size=(8, 12, len(levels))) * 2.0).astype(np.float32)
        cot = rng.normal(size=z.shape).astype(np.float32)
        zt = torch.from_numpy(z).requires_grad_(True)
        codes, _ = quantizer(zt)
        (codes * torch.from_numpy(cot)).sum().backward()
        rec.put(f"{name}/z", z)
        rec.put(f"{name}/cotangent", cot)
        rec.put(f"{name}/codes", codes)
        rec.put(f"{name}/grad", zt.grad)
    import importlib.metadata as md

    return rec, {
        "levels": [list(x) for x in FSQ_LEVELS],
        "vector_quantize_pytorch": md.version("vector-quantize-pytorch"),
        "class": "FSQ(levels)",
        "input": "[8, 12, len(levels)] float32, normal * 2",
    }


AUG_NAMES = (
    "nothing",
    "shift",
    "rotate",
    "perspective",
    "shift-rotate",
    "rotate-shift",
    "rotate-perspective",
    "perspective-rotate",
)


def augment_fixture(ref, ref_aug):
    """One call of the reference's Augmenter on 64 px images, with every random draw recorded: the
    pipeline of each image, each shift stage's integer offsets (per image), each rotation's angle and
    each perspective's corners (one per pipeline call, as torchvision draws them)."""
    import torch
    import torchvision.transforms as TF

    rec = Recorder()
    size, n = 64, 16
    rng = np.random.default_rng(SEED + 8)
    images = (rng.integers(0, SIZES["levels"], (n, size, size, 1)) * (255 // (SIZES["levels"] - 1))).astype(np.uint8)
    draws = {"rotate": [], "perspective": [], "shift": [], "choice": []}
    orig_randint = torch.randint
    orig_rotate_params = TF.RandomRotation.get_params
    orig_persp_params = TF.RandomPerspective.get_params

    class Recording:
        """Stands in for the torch module inside src.augmentations: records its randint calls."""

        def __getattr__(self, name):
            return getattr(torch, name)

        @staticmethod
        def randint(*args, **kwargs):
            out = orig_randint(*args, **kwargs)
            (draws["choice"] if out.ndim == 1 else draws["shift"]).append(out.clone())
            return out

    def rotate_params(degrees):
        angle = orig_rotate_params(degrees)
        draws["rotate"].append(angle)
        return angle

    def perspective_params(width, height, distortion_scale):
        start, end = orig_persp_params(width, height, distortion_scale)
        draws["perspective"].append((start, end))
        return start, end

    # find a seed whose draw gives every pipeline at least one image
    for seed in range(SEED, SEED + 1000):
        torch.manual_seed(seed)
        if len(set(orig_randint(8, (n,)).tolist())) == 8:
            break
    augmenter = ref_aug.Augmenter(size)
    saved = ref_aug.torch
    ref_aug.torch = Recording()
    TF.RandomRotation.get_params = staticmethod(rotate_params)
    TF.RandomPerspective.get_params = staticmethod(perspective_params)
    try:
        torch.manual_seed(seed)
        x = ref.utils.normalize_img(torch.from_numpy(images).permute((0, 3, 1, 2)))
        out = augmenter(x)
    finally:
        ref_aug.torch = saved
        TF.RandomRotation.get_params = orig_rotate_params
        TF.RandomPerspective.get_params = orig_persp_params
    choice = draws["choice"][0].numpy()
    # Replay the call order: pipelines in order, each stage of a pipeline drawing what it needs.
    shift = np.zeros((n, 2, 2), np.int64)  # [image, stage, (x, y)] integer offset in [-pad, pad]
    angle = np.zeros((8, 2), np.float64)
    corners = np.zeros((8, 2, 4, 2), np.int64)  # torchvision endpoints on the padded image, (x, y)
    shifts, rotations, perspectives = iter(draws["shift"]), iter(draws["rotate"]), iter(draws["perspective"])
    shift_pad = 14
    for i, name in enumerate(AUG_NAMES):
        selected = np.flatnonzero(choice == i)
        if selected.size == 0:
            continue
        for stage, op in enumerate(name.split("-")):
            if op == "shift":
                d = next(shifts).numpy().reshape(len(selected), 2)
                shift[selected, stage] = d.astype(np.int64) - shift_pad
            elif op == "rotate":
                angle[i, stage] = float(next(rotations))
            elif op == "perspective":
                corners[i, stage] = np.asarray(next(perspectives)[1])
    for leftover in (shifts, rotations, perspectives):
        assert next(leftover, None) is None, "unreplayed draws"
    rec.put("inputs/images", images)
    rec.put("outputs/augmented", out.permute(0, 2, 3, 1))
    rec.put("draws/pipeline", choice)
    rec.put("draws/shift", shift)
    rec.put("draws/angle", angle)
    rec.put("draws/corners", corners)
    meta = {
        "image_size": size,
        "images": n,
        "pipelines": list(AUG_NAMES),
        "shift_pad": shift_pad,
        "rotate_pad": 17,
        "perspective_pad": 30,
        "degrees": 90,
        "distortion_scale": 0.5,
        "draws": "pipeline [n]: index into pipelines; shift [n, stage, (x, y)]: output pixel p reads input p + shift "
        "(torch's randint minus pad); angle [pipeline, stage]: torchvision RandomRotation angle (degrees, "
        "counter-clockwise); corners [pipeline, stage, 4, (x, y)]: RandomPerspective endpoints on the "
        "padded image (top-left, top-right, bottom-right, bottom-left); unused stages are zero",
    }
    return rec, meta


# -- main ---------------------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", required=True, help="checkout of dunnolab/laom at REFERENCE_COMMIT")
    parser.add_argument(
        "--out",
        default=os.path.join(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fixtures", "reference"
        ),
    )
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    ref = import_reference(args.reference)
    os.makedirs(args.out, exist_ok=True)
    meta = {
        "reference": "https://github.com/dunnolab/laom",
        "reference_commit": REFERENCE_COMMIT,
        "reference_sha256": reference_identity(args.reference),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "seed": SEED,
        "sizes": SIZES,
        "steps_per_epoch": STEPS_PER_EPOCH,
        "precision": "float32 (autocast off); outputs_bf16/: the first forward of LAOM and LAPO again "
        "under torch.autocast('cpu', bfloat16)",
        "augmentation": "off in the loss fixtures; augment.npz replays draws",
        "second_batch": "first batch reversed along the batch axis, images mirrored left-right ([B,H,W,C] axis 2)",
        "command": "python tools/make_reference_fixtures.py --reference=PATH",
        "fixtures": {},
    }
    written = {}
    rec, m, laom_initial = laom_fixture(ref, with_labels=False)
    written["laom"] = (rec, m)
    written["laom_labels"] = laom_fixture(ref, with_labels=True)[:2]
    written["lapo"] = lapo_fixture(ref)
    written["idm"] = idm_fixture(ref)
    rec, m, actor_initial = bc_fixture(ref, laom_initial)
    written["bc"] = (rec, m)
    written["decoder"] = decoder_fixture(ref, actor_initial)
    written["schedule"] = schedule_fixture(ref)
    written["fsq"] = fsq_fixture()
    written["augment"] = augment_fixture(ref, import_augmentations())
    import torchvision

    meta["torchvision"] = torchvision.__version__
    for name, (rec, m) in written.items():
        path = os.path.join(args.out, f"{name}.npz")
        rec.save(path)
        meta["fixtures"][name] = {**m, "file": f"{name}.npz", "bytes": os.path.getsize(path)}
        print(f"{path}: {os.path.getsize(path) / 1e3:.0f} kB, {len(rec.arrays)} arrays")
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
