"""LAM pretraining: one jit-compiled step (device-side sampling + update), data parallel over a mesh.

The step is a pure function of (state, step): NNX modules are split into a graph definition and
a state pytree, the state is donated, and every step's randomness is ``fold_in(seed_key, step)``,
so a run resumed from a checkpoint continues exactly as an uninterrupted one. A step whose loss
or gradient norm is not finite is not applied; the step number is kept on device and reported
at the next log or save, which then stops the run (no non-finite state is ever saved).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import sys
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from lam_jax import errors
from lam_jax.data import sampling, streaming
from lam_jax.devices import hardware, memory, sharding
from lam_jax.models import lams
from lam_jax.models.fsq import num_levels
from lam_jax.training import loop, metrics, optim, run_dir
from lam_jax.training.checkpoint import Carry


def trainable(model=None) -> nnx.filterlib.Filter:
    """Parameters the optimiser updates: everything but LAOM's EMA target encoder."""
    del model
    return nnx.All(nnx.Param, nnx.Not(nnx.PathContains("target_encoder")))


def _param_groups(params, label_head: bool = False):
    """'probe' for the online probes' parameters, 'label_head' for LAOM+sup's head z -> a when it has
    its own rate, 'model' for everything else."""
    def group(path, _):
        name = jax.tree_util.keystr(path)
        return "probe" if "probes" in name else "label_head" if label_head and "true_action_head" in name else "model"
    return jax.tree_util.tree_map_with_path(group, params)


def resolve_schedule(cfg, windows_per_epoch: int) -> tuple[int, int]:
    """(num_steps, warmup_steps): counted in epochs over the training windows (the reference's
    dataloader length: floor(windows / batch) for LAPO, ceil for the others) when num_epochs /
    warmup_epochs are set."""
    # train_lapo.py's loader drops the last partial batch; the other scripts' loaders keep it.
    rounding = math.floor if cfg.model.name == "lapo" else math.ceil
    per_epoch = max(1, rounding(windows_per_epoch / cfg.batch_size))
    num_steps = cfg.num_epochs * per_epoch if cfg.num_epochs > 0 else cfg.num_steps
    warmup = round(cfg.warmup_epochs * per_epoch) if cfg.warmup_epochs > 0 else cfg.warmup_steps
    return int(num_steps), int(min(warmup, max(num_steps - 1, 0)))


def make_optimizer(cfg, num_steps: int, warmup_steps: int) -> optax.GradientTransformation:
    """The reference's Adam under linear warm-up and decay for the model; the probes get their own
    constant-rate Adam, as in the reference, so they never touch the model's schedule or clipping."""
    model_tx = optim.adam(cfg.learning_rate, warmup_steps, num_steps, grad_clip=cfg.grad_clip,
                          weight_decay=cfg.weight_decay)
    probe_tx = optax.adam(cfg.probe_learning_rate or cfg.learning_rate)
    if not cfg.get("label_head_learning_rate"):
        return optax.multi_transform({"model": model_tx, "probe": probe_tx}, _param_groups)
    # The head's own peak rate under the model's schedule; clipping, if any, stays the model's alone.
    head_tx = optim.adam(cfg.label_head_learning_rate, warmup_steps, num_steps, weight_decay=cfg.weight_decay)
    return optax.multi_transform({"model": model_tx, "probe": probe_tx, "label_head": head_tx},
                                 lambda params: _param_groups(params, label_head=True))


def validate_config(cfg) -> None:
    """Clear errors for bad values, before anything is loaded or compiled."""
    if cfg.model.name not in lams.MODELS:
        raise errors.ConfigError(f"unknown model {cfg.model.name!r}; expected one of {sorted(lams.MODELS)}")
    lams.compute_dtype(cfg.model)
    positive = {"batch_size": cfg.batch_size, "frame_stack": cfg.frame_stack, "max_offset": cfg.max_offset,
                "log_every": cfg.log_every, "save_every": cfg.save_every, "keep_checkpoints": cfg.keep_checkpoints,
                "model.latent_dim": cfg.model.latent_dim, "model.encoder_scale": cfg.model.encoder_scale,
                "learning_rate": cfg.learning_rate}
    if lams.needs_labels(cfg.model):
        positive["data.labeled_trajectories"] = cfg.data.labeled_trajectories
    if lams.uses_labeled_batch(cfg.model):
        positive["labeled_batch_size"] = cfg.labeled_batch_size
    for name, value in positive.items():
        if not value > 0:
            raise errors.ConfigError(f"config.{name} must be > 0, got {value}")
    non_negative = {"seed": cfg.seed, "stop_at": cfg.get("stop_at", 0), "weight_decay": cfg.weight_decay,
                    "grad_clip": cfg.grad_clip, "probe_learning_rate": cfg.probe_learning_rate,
                    "label_head_learning_rate": cfg.get("label_head_learning_rate", 0.0),
                    "model.augment_scale": cfg.model.get("augment_scale", 1.0),
                    "num_steps": cfg.num_steps, "num_epochs": cfg.num_epochs, "warmup_steps": cfg.warmup_steps,
                    "warmup_epochs": cfg.warmup_epochs, "model.labeled_loss_coef": cfg.model.labeled_loss_coef}
    for name, value in non_negative.items():
        if value < 0:
            raise errors.ConfigError(f"config.{name} must be >= 0, got {value}")
    if cfg.num_steps < 1 and cfg.num_epochs < 1:
        raise errors.ConfigError("set config.num_steps or config.num_epochs to at least 1")
    if not 0 < cfg.model.ema_tau <= 1:
        raise errors.ConfigError(f"config.model.ema_tau must be in (0, 1], got {cfg.model.ema_tau}")
    levels = num_levels(cfg.model.fsq_levels)
    if any(x < 2 for x in levels) or (len(levels) > 1 and len(levels) != cfg.model.latent_dim):
        raise errors.ConfigError(f"config.model.fsq_levels must be 0 (off), >= 2, or one count >= 2 for each of the "
                         f"{cfg.model.latent_dim} latent dimensions; got {cfg.model.fsq_levels}")


def model_spec(cfg, source) -> dict:
    """What, besides the config, rebuilding the model needs; saved beside its checkpoints. The
    model takes its frame size from the data; ``data.image_size`` sizes synthetic episodes only."""
    if cfg.data.path and cfg.data.get("image_size") and cfg.data.image_size != source.image_size:
        print(f"note: config.data.image_size={cfg.data.image_size} sizes synthetic episodes only; {cfg.data.path} "
              f"holds {source.image_size} px frames, so the model is built for {source.image_size} px",
              file=sys.stderr)
    if cfg.get("variant") == "paper" and source.image_size != 64:
        print(f"note: the paper configs are the reference's architectures for 64 px frames; on "
              f"{source.image_size} px frames their sizes (and parameter counts) differ", file=sys.stderr)
    windows = source.num_episodes * (source.length - cfg.max_offset)  # per epoch, as the reference's dataset length
    num_steps, warmup = resolve_schedule(cfg, windows)
    return {"image_size": source.image_size, "frame_stack": cfg.frame_stack, "action_dim": source.action_dim,
            "state_dim": source.state_dim, "num_steps": num_steps, "warmup_steps": warmup,
            "windows_per_epoch": windows}


def build_train_state(cfg, model_spec: dict):
    """(graphdef, state) of the (model, optimiser) pair; the layout every checkpoint uses."""
    model = lams.make_model(cfg.model, image_size=model_spec["image_size"], frame_stack=model_spec["frame_stack"],
                            action_dim=model_spec["action_dim"], state_dim=model_spec["state_dim"], seed=cfg.seed)
    tx = make_optimizer(cfg, model_spec["num_steps"], model_spec["warmup_steps"])
    return nnx.split((model, nnx.Optimizer(model, tx, wrt=trainable(model))))


def check_train_state_fits(cfg, spec: dict, device) -> None:
    """Stops before building a model whose parameters, gradients and two Adam moments (of what the
    optimiser trains; one copy of the rest, e.g. LAOM's EMA target) exceed the device's free memory: a
    lower bound on what training holds (activations come on top). Builds nothing to find out."""
    abstract = nnx.eval_shape(lambda: lams.make_model(
        cfg.model, image_size=spec["image_size"], frame_stack=spec["frame_stack"], action_dim=spec["action_dim"],
        state_dim=spec["state_dim"], seed=cfg.seed))
    size = lambda tree: sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree))  # noqa: E731
    trained = size(nnx.state(abstract, trainable(abstract)))
    nbytes = 4 * trained + size(nnx.state(abstract, nnx.Param)) - trained
    memory.require(device, nbytes, f"the {cfg.model.name} model's parameters, gradients and Adam moments",
                   "use a smaller model (config.model.encoder_scale, config.model.latent_dim) or a larger device")


@dataclasses.dataclass(frozen=True)
class StepStatics:
    """Everything static about a train step. Steps with equal statics share one compiled program
    (so several Trainers in one process, e.g. a sweep, compile once)."""
    graphdef: Any
    mesh: Any
    batch_sizes: tuple  # (unlabeled,) or (unlabeled, labeled)
    frame_stack: int
    max_offset: int
    ema_tau: float
    target_update_every: int
    learning_rate: float
    warmup_steps: int
    num_steps: int


def _update(statics: StepStatics, state, health, batch, key, step):
    model, optimizer = nnx.merge(statics.graphdef, state)
    (loss, metrics), grads = nnx.value_and_grad(
        lambda m: m.loss(batch, key), argnums=nnx.DiffState(0, trainable(model)), has_aux=True)(model)
    groups = _param_groups(grads)
    grad_norm = optax.tree.norm(jax.tree.map(lambda g, grp: g if grp == "model" else jnp.zeros_like(g),
                                             grads, groups))
    optimizer.update(model, grads)
    if hasattr(model, "ema_update"):
        model.ema_update(jnp.where(step % statics.target_update_every == 0, statics.ema_tau, 0.0))
    new_state, health = loop.guard(nnx.state((model, optimizer)), state, health, step, loss, grad_norm)
    schedule = optim.linear_warmup_decay(statics.learning_rate, statics.warmup_steps, statics.num_steps)
    return new_state, health, dict(metrics, loss=loss, grad_norm=grad_norm, learning_rate=schedule(step))


def _make_batch(statics: StepStatics, data, labeled, key):
    samplers = [sampling.make_device_sampler(statics.mesh, bs, statics.frame_stack, statics.max_offset)
                for bs in statics.batch_sizes]
    k_batch, k_lab = jax.random.split(key)
    batch = samplers[0](data, k_batch)
    if labeled is not None:
        batch["labeled"] = samplers[1](labeled, k_lab)
    return batch


def _step_keys(rng, step):
    return jax.random.split(jax.random.fold_in(rng, step))


@functools.partial(jax.jit, static_argnums=0, donate_argnums=(1, 2))
def jit_train_step(statics: StepStatics, state, health, data, labeled, rng, step):
    """One update with on-device sampling: (state, health, metrics)."""
    k_batch, k_loss = _step_keys(rng, step)
    return _update(statics, state, health, _make_batch(statics, data, labeled, k_batch), k_loss, step)


@functools.partial(jax.jit, static_argnums=0, donate_argnums=(1, 2))
def jit_streaming_step(statics: StepStatics, state, health, batch, rng, step):
    """One update on a batch sampled on the host (streaming mode)."""
    return _update(statics, state, health, batch, _step_keys(rng, step)[1], step)


jit_update = jax.jit(_update, static_argnums=0)
PREVIEW_WINDOWS = 4


@functools.partial(jax.jit, static_argnums=0)
def jit_previews(statics: StepStatics, state, data, labeled, batch, key):
    """The model's ``previews`` on the first windows of a batch (sampled as a step samples, or given),
    replicated so that every process holds them."""
    if batch is None:
        batch = _make_batch(statics, data, labeled, jax.random.fold_in(key, 1))
    few = jax.tree.map(lambda x: x[:PREVIEW_WINDOWS], {k: v for k, v in batch.items() if k != "labeled"})
    model = nnx.merge(statics.graphdef, state)[0]
    views = model.previews(few, key) if hasattr(model, "previews") else {}
    return jax.lax.with_sharding_constraint(views, sharding.replicated(statics.mesh))


def grid(views) -> np.ndarray:
    """[windows, columns, H, W, 3] in [-1, 1] -> one uint8 image, a row per window."""
    rows = [np.concatenate(list(w), axis=1) for w in views]
    return np.clip((np.concatenate(rows, axis=0) + 1.0) * 127.5, 0, 255).astype(np.uint8)


class Trainer:
    """Holds the mesh, data and state; ``run`` trains to the configured step with resume.

    ``train`` and ``labeled`` are episode sources (``lam_jax.data.episodes``); LAOM+supervision draws a batch
    of ``labeled`` windows every step beside the ``train`` batch.
    """

    def __init__(self, cfg: ml_collections.ConfigDict, train, labeled=None, workdir: str | None = None,
                 mesh=None):
        validate_config(cfg)
        self.cfg, self.workdir = cfg, workdir
        self.use_labels = lams.uses_labeled_batch(cfg.model)
        if self.use_labels and labeled is None:
            raise errors.ConfigError(f"model {cfg.model.name} with labeled_loss_coef > 0 trains on labeled data "
                             "but no labeled episodes were given")
        if train.length <= cfg.max_offset + 1:
            raise errors.ConfigError(f"episodes of {train.length} steps are too short for max_offset {cfg.max_offset}")
        sharding.initialize_distributed(cfg.distributed)
        self.mesh = mesh or sharding.make_mesh(cfg.num_devices)
        self.model_spec = model_spec(cfg, train)
        self.num_steps = self.model_spec["num_steps"]
        check_train_state_fits(cfg, self.model_spec, self.mesh.local_devices[0])
        self.graphdef, state = build_train_state(cfg, self.model_spec)
        self.state = sharding.put_replicated(state, self.mesh)
        self.health = loop.new_health(self.mesh)  # first non-finite step, or -1
        self.base_key = sharding.put_replicated(jax.random.PRNGKey(cfg.seed), self.mesh)
        self.streaming = cfg.data.get("streaming", False)
        sources = [train] + ([labeled] if self.use_labels else [])
        batches = tuple([cfg.batch_size] + ([cfg.labeled_batch_size] if self.use_labels else []))
        for bs in batches:  # fail before any data is read
            sampling.make_device_sampler(self.mesh, bs, cfg.frame_stack, cfg.max_offset)
        if self.streaming:  # episodes stay on disk; a bounded host buffer feeds each step
            self.samplers = [streaming.BufferedSampler(src, self.mesh, bs, cfg.frame_stack, cfg.max_offset,
                                                       cfg.seed + i, cfg.data.buffer_episodes, cfg.data.buffer_steps)
                             for i, (src, bs) in enumerate(zip(sources, batches))]
            self.data = self.labeled = None
        else:
            placed = [sampling.place_episodes(src, self.mesh) for src in sources]
            self.data, self.labeled = placed[0], (placed[1] if self.use_labels else None)
        self.statics = StepStatics(self.graphdef, self.mesh, batches, cfg.frame_stack, cfg.max_offset,
                                   float(cfg.model.ema_tau), int(cfg.model.target_update_every),
                                   float(cfg.learning_rate), self.model_spec["warmup_steps"], self.num_steps)

    # -- the compiled steps, bound to this trainer's statics and RNG key --------------------------
    def train_step(self, state, health, data, labeled, step):
        return jit_train_step(self.statics, state, health, data, labeled, self.base_key, step)

    def update_step(self, state, health, batch, key, step):
        return jit_update(self.statics, state, health, batch, key, step)

    def make_batch(self, data, labeled, key):
        return _make_batch(self.statics, data, labeled, key)

    def previews(self, carry, step) -> dict:
        """Images of what the model sees and does on a few windows of this step's batch (collective:
        every process calls it): {tag: uint8 [H, W, 3]} grids, one row per window."""
        key = jax.random.fold_in(carry["rng"], step)
        batch = self._host_batch(step) if self.streaming else None
        views = jit_previews(self.statics, carry["state"], self.data, self.labeled, batch, key)
        return {tag: grid(np.asarray(x)) for tag, x in sharding.local_copy(views).items()}

    def _host_batch(self, step):
        batch = self.samplers[0].sample(step)
        if self.use_labels:
            batch["labeled"] = self.samplers[1].sample(step)
        return batch

    # -- host loop ------------------------------------------------------------------------------
    @property
    def model(self):
        return nnx.merge(self.graphdef, self.state)[0]

    def run(self, num_steps: int | None = None, progress: bool = True) -> dict:
        """Trains until step ``num_steps`` (default: the configured schedule), resuming from the workdir."""
        cfg = self.cfg
        if num_steps is None:
            num_steps = min(self.num_steps, cfg.stop_at) if cfg.get("stop_at", 0) > 0 else self.num_steps
        log_cfg = metrics.log_settings(cfg) or {}
        train_loop = loop.TrainLoop(self.workdir, cfg.to_dict(), self.mesh, keep_checkpoints=cfg.keep_checkpoints,
                                    keep_every=cfg.get("keep_every", 0),
                                    hint=f"lower the learning rate (now {cfg.learning_rate}) or set grad_clip",
                                    fallback=cfg.get("resume_fallback", True), log_cfg=log_cfg)
        with train_loop:  # the workdir's lock is released however this ends
            if self.workdir and sharding.is_main_process():
                run_dir.write_json(os.path.join(self.workdir, "model_spec.json"), self.model_spec)
            carry, start = train_loop.resume(Carry(state=self.state, health=self.health, rng=self.base_key))

            def inputs(step):  # what a step reads besides the carry
                return (self._host_batch(step),) if self.streaming else (self.data, self.labeled)

            compiled = None
            if start < num_steps:
                # Compiled ahead of the loop: XLA's FLOP count for the logs' TFLOP/s and MFU, and with several
                # processes, compile first, then meet (the first collective's set-up waits only 30 s).
                jitted = jit_streaming_step if self.streaming else jit_train_step
                compiled = jitted.lower(self.statics, carry["state"], carry["health"], *inputs(start), carry["rng"],
                                        start).compile()
                if jax.process_count() > 1:
                    sharding.barrier("compiled", int(cfg.distributed.get("initialization_timeout", 900)))

            def step_fn(carry, step):
                state, health, metrics = compiled(carry["state"], carry["health"], *inputs(step), carry["rng"], step)
                return dict(carry, state=state, health=health), metrics

            try:
                carry, last = train_loop.run(step_fn, carry, start, num_steps, log_every=cfg.log_every,
                                             save_every=cfg.save_every, batch_size=cfg.batch_size,
                                             desc=f"train {cfg.model.name}", progress=progress,
                                             flops_per_step=hardware.compiled_flops(compiled) if compiled else 0.0,
                                             peak_tflops=hardware.peak_tflops(cfg.model.dtype)[0],
                                             previews=self.previews if self.workdir else None,
                                             previews_every=log_cfg.get("images_every", 0) or cfg.save_every)
            finally:
                for sampler in getattr(self, "samplers", []):
                    sampler.close()
        self.state, self.health, self.base_key = carry["state"], carry["health"], carry["rng"]
        return last
