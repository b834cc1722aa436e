"""LAM pretraining: one jit-compiled step (device-side sampling + update), data parallel over a mesh.

The step is a pure function of (state, key): NNX modules are split into a graph definition and a
state pytree, the state is donated, and every step's randomness is ``fold_in(seed_key, step)``,
so a run resumed from a checkpoint continues exactly as an uninterrupted one.
"""
from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from lam_jax import models, sampling, sharding
from lam_jax.checkpoint import Checkpointer
from lam_jax.data import Episodes
from lam_jax.metrics import JsonlWriter, read_jsonl


def trainable(model) -> nnx.filterlib.Filter:
    """Parameters the optimiser updates: everything but LAOM's EMA target encoder."""
    del model
    return nnx.All(nnx.Param, nnx.Not(nnx.PathContains("target_encoder")))


def _param_groups(params):
    """'probe' for the online probes' parameters, 'model' for everything else."""
    return jax.tree_util.tree_map_with_path(
        lambda path, _: "probe" if "probes" in jax.tree_util.keystr(path) else "model", params)


def make_optimizer(cfg: ml_collections.ConfigDict) -> optax.GradientTransformation:
    """Adam with warm-up and cosine decay for the model; the probes get their own Adam so their
    gradients never eat into the model's global-norm clipping budget."""
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, cfg.learning_rate, min(cfg.warmup_steps, max(cfg.num_steps - 1, 1)), max(cfg.num_steps, 2),
        end_value=cfg.learning_rate * cfg.get("final_lr_fraction", 0.1))
    model_tx = optax.chain(optax.clip_by_global_norm(cfg.grad_clip),
                           optax.adamw(schedule, weight_decay=cfg.weight_decay))
    return optax.multi_transform({"model": model_tx, "probe": optax.adam(cfg.learning_rate)}, _param_groups)


def validate_config(cfg) -> None:
    if cfg.model.name not in models.MODELS:
        raise ValueError(f"unknown model {cfg.model.name!r}; expected one of {sorted(models.MODELS)}")
    for name in ("batch_size", "num_steps", "frame_stack", "max_offset"):
        if cfg[name] < 1:
            raise ValueError(f"config.{name} must be >= 1, got {cfg[name]}")
    if models.needs_labels(cfg.model) and cfg.labeled_batch_size < 1:
        raise ValueError(f"model {cfg.model.name} needs labels: set labeled_batch_size >= 1")


def model_spec(cfg, train: Episodes) -> dict:
    """What, besides the config, rebuilding the model needs; saved beside its checkpoints."""
    mean, std = sampling.state_stats(train)
    return {"image_size": train.image_size, "frame_stack": cfg.frame_stack, "action_dim": train.action_dim,
            "state_dim": train.state_dim, "state_mean": mean.tolist(), "state_std": std.tolist()}


def build_train_state(cfg, spec: dict):
    """(graphdef, state) of the (model, optimiser) pair; the layout every checkpoint uses."""
    model = models.make_model(cfg.model, image_size=spec["image_size"], frame_stack=spec["frame_stack"],
                              action_dim=spec["action_dim"], state_dim=spec["state_dim"], seed=cfg.seed)
    return nnx.split((model, nnx.Optimizer(model, make_optimizer(cfg), wrt=trainable(model))))


def checkpoint_tree(state, step, rng) -> dict:
    return {"state": state, "step": jnp.asarray(step, jnp.int32), "rng": rng}


class Trainer:
    """Holds the mesh, compiled step and state; ``run`` trains to cfg.num_steps with resume."""

    def __init__(self, cfg: ml_collections.ConfigDict, train: Episodes, labeled: Episodes | None = None,
                 workdir: str | None = None):
        validate_config(cfg)
        self.cfg, self.workdir = cfg, workdir
        self.use_labels = models.needs_labels(cfg.model)
        if self.use_labels and labeled is None:
            raise ValueError(f"model {cfg.model.name} trains on labeled data but no labeled episodes were given")
        if train.length <= cfg.max_offset + 1:
            raise ValueError(f"episodes of {train.length} steps are too short for max_offset {cfg.max_offset}")
        sharding.maybe_initialize_distributed(cfg.get("distributed", False))
        self.mesh = sharding.make_mesh(cfg.get("num_devices", 0))
        self.spec = model_spec(cfg, train)
        self.graphdef, state = build_train_state(cfg, self.spec)
        self.state = jax.device_put(state, sharding.replicated(self.mesh))
        self.state_stats = (np.asarray(self.spec["state_mean"]), np.asarray(self.spec["state_std"]))
        self.streaming = cfg.data.get("streaming", False)
        if self.streaming:  # episodes stay in host memory; batches are sampled there and copied
            self.data = self.labeled = None
            self.host_samplers = [sampling.HostSampler(train, self.mesh, cfg.batch_size, cfg.frame_stack,
                                                       cfg.max_offset, cfg.seed, self.state_stats)]
            if self.use_labels:
                self.host_samplers.append(sampling.HostSampler(
                    labeled, self.mesh, cfg.labeled_batch_size, cfg.frame_stack, cfg.max_offset, cfg.seed + 1,
                    self.state_stats))
        else:
            self.data = sampling.shard_episodes(train, self.mesh, self.state_stats)
            self.labeled = sampling.shard_episodes(labeled, self.mesh, self.state_stats) if self.use_labels else None
        self.sample = sampling.make_device_sampler(self.mesh, cfg.batch_size, cfg.frame_stack, cfg.max_offset)
        self.sample_labeled = (sampling.make_device_sampler(self.mesh, cfg.labeled_batch_size, cfg.frame_stack,
                                                            cfg.max_offset) if self.use_labels else None)
        self.train_step = jax.jit(self._train_step, donate_argnums=0)
        self.update_step = jax.jit(self._update)
        self.streaming_step = jax.jit(self._streaming_step, donate_argnums=0)
        self.base_key = jax.random.PRNGKey(cfg.seed)

    # -- pure functions -------------------------------------------------------------------------
    def _update(self, state, batch, key):
        model, optimizer = nnx.merge(self.graphdef, state)

        def loss_fn(m):
            return m.loss(batch, key)

        (loss, metrics), grads = nnx.value_and_grad(
            loss_fn, argnums=nnx.DiffState(0, trainable(model)), has_aux=True)(model)
        optimizer.update(model, grads)
        if hasattr(model, "ema_update"):
            model.ema_update(self.cfg.model.ema_tau)
        groups = _param_groups(grads)
        model_grads = jax.tree.map(lambda g, grp: g if grp == "model" else jnp.zeros_like(g), grads, groups)
        metrics = dict(metrics, loss=loss, grad_norm=optax.tree.norm(model_grads))
        return nnx.state((model, optimizer)), metrics

    def make_batch(self, data, labeled, key):
        k_batch, k_lab = jax.random.split(key)
        batch = self.sample(data, k_batch)
        if labeled is not None:
            batch["labeled"] = self.sample_labeled(labeled, k_lab)
        return batch

    def _train_step(self, state, data, labeled, step):
        key = jax.random.fold_in(self.base_key, step)
        k_batch, k_loss = jax.random.split(key)
        return self._update(state, self.make_batch(data, labeled, k_batch), k_loss)

    def _streaming_step(self, state, batch, step):
        return self._update(state, batch, jax.random.split(jax.random.fold_in(self.base_key, step))[1])

    def _host_batch(self, step):
        batch = self.host_samplers[0].sample(step)
        if self.use_labels:
            batch["labeled"] = self.host_samplers[1].sample(step)
        return batch

    # -- host loop ------------------------------------------------------------------------------
    @property
    def model(self):
        return nnx.merge(self.graphdef, self.state)[0]

    def _checkpoint_tree(self, step):
        return checkpoint_tree(self.state, step, self.base_key)

    def run(self, num_steps: int | None = None, progress: bool = True) -> dict:
        """Trains until step ``num_steps`` (default cfg.num_steps), resuming from the workdir."""
        cfg = self.cfg
        num_steps = cfg.num_steps if num_steps is None else num_steps
        ckpt = Checkpointer(os.path.join(self.workdir, "checkpoints")) if self.workdir else None
        start = 0
        if ckpt and ckpt.latest_step() is not None:
            restored = ckpt.restore(ckpt.latest_step(), self._checkpoint_tree(0))
            self.state, self.base_key = restored["state"], restored["rng"]
            start = int(restored["step"])
        writer = JsonlWriter(os.path.join(self.workdir, "metrics.jsonl")) if self.workdir else None
        if self.workdir:
            with open(os.path.join(self.workdir, "model_spec.json"), "w") as f:
                json.dump(self.spec, f)
        block_each_step = jax.devices()[0].platform == "cpu"  # XLA CPU collectives can deadlock when queued
        last, t0, samples = {}, time.perf_counter(), 0
        bar = tqdm(range(start, num_steps), initial=start, total=num_steps, desc=f"train {cfg.model.name}",
                   disable=not progress, unit="step")
        for step in bar:
            if self.streaming:
                self.state, metrics = self.streaming_step(self.state, self._host_batch(step), step)
            else:
                self.state, metrics = self.train_step(self.state, self.data, self.labeled, step)
            if block_each_step:
                jax.block_until_ready(metrics)
            samples += cfg.batch_size
            done = step + 1
            if done % cfg.log_every == 0 or done == num_steps:
                last = {k: float(v) for k, v in jax.device_get(metrics).items()}
                last["samples_per_s"] = samples / (time.perf_counter() - t0)
                t0, samples = time.perf_counter(), 0
                if not np.isfinite(last["loss"]):
                    raise FloatingPointError(f"loss became {last['loss']} at step {done}")
                bar.set_postfix(loss=f"{last['loss']:.4f}")
                if writer and jax.process_index() == 0:
                    writer.write(done, last)
            if ckpt and (done % cfg.save_every == 0 or done == num_steps):
                ckpt.save(done, self._checkpoint_tree(done))
        if ckpt:
            ckpt.close()
        if not last and writer and os.path.exists(writer.path):  # already finished: report the last log
            last = read_jsonl(writer.path)[-1]
            last.pop("step", None)
        return last

    def evaluate(self, episodes: Episodes, num_batches: int = 4) -> dict:
        """Mean loss metrics (incl. online probe MSEs) on other episodes, windows with k = 1."""
        data = sampling.shard_episodes(episodes, self.mesh, self.state_stats)
        sample = sampling.make_device_sampler(self.mesh, self.cfg.batch_size, self.cfg.frame_stack, 1)
        graphdef = self.graphdef

        @jax.jit
        def eval_step(state, data, key):
            model = nnx.merge(graphdef, state)[0]
            batch = sample(data, key)
            if self.use_labels:
                batch["labeled"] = batch  # score supervised heads on the same windows
            return model.loss(batch, key)[1]

        rows = [jax.device_get(eval_step(self.state, data, jax.random.PRNGKey(10_000 + i)))
                for i in range(num_batches)]
        return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
