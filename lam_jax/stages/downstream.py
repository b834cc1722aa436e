"""Downstream stages after LAM pretraining, each resumable from its own orbax checkpoints.

As in the reference (``train_laom.py`` ``train_bc``, ``train_act_decoder``, ``evaluate_bc``):
- ``bc``: an actor o_t -> z regresses the frozen LAM's latent actions z(o_t, o_{t+1}) over the whole
  (unlabeled) training split; for the IDM baseline z is its predicted action (BC on IDM labels);
- ``decoder``: an MLP z -> a_t trained on the frozen actor's outputs for the labeled observations,
  against the dataset's actions;
- ``bc_scratch``: the BC baseline, an actor o_t -> a_t on the labeled trajectories only;
- ``evaluate``: the policy decoder(actor(o)) (or actor(o)) in the environment, actions clipped,
  returns normalised the paper's way (by BC on the full labeled data) and by the expert's return.
"""
from __future__ import annotations

import os

import jax
import numpy as np
from flax import nnx

from data_pipeline import env_config
from data_pipeline.experts import PAPER_BC_RETURNS, REFERENCE_RETURNS
from lam_jax.models import lams, nets
from lam_jax.models.policy_nets import ActionDecoder, Actor
from lam_jax.training import metrics, optim, run_dir
from lam_jax.training.checkpoint import require_checkpoint, restore_state
from lam_jax.training.restore import check_frames, load_lam
from lam_jax.training.supervised import FitSettings, check_settings, fit


def eval_env(metadata: dict, dcfg) -> env_config.EnvConfig:
    """The environment a policy trained on a dataset is evaluated in: the dataset's task and
    distractors on ``dcfg.eval.split``'s videos, from ``eval.davis_path`` if given. The paper's
    released files were rendered on DAVIS, which they do not name: they need ``eval.davis_path``
    (or ``eval.allow_procedural``, to score on procedural videos anyway)."""
    env = {**metadata["settings"]["env"], "split": dcfg.eval.split}
    if dcfg.eval.get("davis_path"):
        env["davis_path"] = dcfg.eval.davis_path
    released = metadata["settings"].get("source") == "released hdf5"
    if released and not env.get("davis_path") and env["preset"] != "vanilla" and not dcfg.eval.get("allow_procedural"):
        raise ValueError("the paper's released data was rendered on DAVIS videos: evaluate with "
                         "--config.eval.davis_path=/path/to/DAVIS (or --config.eval.allow_procedural=True to "
                         "score on procedural videos, which the policy never saw)")
    return env_config.EnvConfig(**env)


def steps(stage_cfg, source) -> int:
    """num_steps, or num_epochs over the source's transitions (the reference drops the last partial batch)."""
    if stage_cfg.get("num_epochs", 0) > 0:
        per_epoch = max(1, source.num_episodes * (source.length - 1) // stage_cfg.batch_size)
        return stage_cfg.num_epochs * per_epoch
    return stage_cfg.num_steps


def _fit_settings(dcfg, stage_cfg, source, frame_stack: int, desc: str, extra: dict) -> FitSettings:
    config = {"stage": desc, "variant": dcfg.variant, "dtype": dcfg.dtype, "seed": dcfg.seed, desc: stage_cfg.to_dict(),
              "dataset": os.path.abspath(source.path) if hasattr(source, "path") else "", **extra}
    return FitSettings(num_steps=steps(stage_cfg, source), batch_size=stage_cfg.batch_size, seed=dcfg.seed,
                       learning_rate=stage_cfg.learning_rate, warmup_steps=stage_cfg.get("warmup_steps", 0),
                       frame_stack=frame_stack, log_every=dcfg.log_every, save_every=dcfg.save_every,
                       num_devices=dcfg.num_devices, desc=desc, weight_decay=stage_cfg.get("weight_decay", 0.0),
                       config=config, log=metrics.log_settings(dcfg))


def _actor(arch: dict) -> Actor:
    return Actor(arch["frame_stack"], arch["out_dim"], arch["encoder_scale"], arch["num_res_blocks"],
                 dtype=lams.DTYPES[arch["dtype"]], rngs=nnx.Rngs(arch.get("seed", 0)))


def _check_stage(stage_cfg, source, desc: str) -> None:
    """Bad settings stop a stage before it writes anything."""
    num_steps = steps(stage_cfg, source) if stage_cfg.batch_size >= 1 else 0  # epochs divide by the batch
    check_settings(desc, num_steps, stage_cfg.batch_size, stage_cfg.learning_rate, stage_cfg.get("weight_decay", 0.0))


def _new_actor(dcfg, workdir: str, frame_stack: int, out_dim: int, kind: str, image_size: int) -> Actor:
    arch = {"kind": kind, "frame_stack": frame_stack, "out_dim": out_dim, "encoder_scale": dcfg.bc.encoder_scale,
            "num_res_blocks": dcfg.bc.encoder_num_res_blocks, "dtype": dcfg.dtype, "seed": dcfg.seed,
            "image_size": image_size}
    run_dir.write_json(os.path.join(workdir, "spec.json"), arch)
    return _actor(arch)


def load_arch(workdir: str) -> dict:
    """An actor's or decoder's architecture (its folder's spec.json, the name older runs have too)."""
    path = os.path.join(workdir, "spec.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{workdir!r} is not a downstream stage folder (spec.json missing)")
    return run_dir.read_json(path)


def train_bc(dcfg, lam_dir: str, train, workdir: str, lam=None) -> Actor:
    """Actor o_t -> z(o_t, o_{t+1}) of the frozen LAM over every training transition; ``lam``: the
    (model, model_spec) of lam_dir's LAM in float32 when this process has just trained it."""
    _check_stage(dcfg.bc, train, "bc")
    lam, lam_model_spec = lam or load_lam(lam_dir, dtype="float32")[1:]  # the reference labels outside autocast
    check_frames(lam_model_spec, train, f"the LAM in {lam_dir}")
    graphdef, frozen = nnx.split(lam)

    def latent(frozen, batch):  # inside the step: the frozen LAM's z(o_t, o_{t+1})
        return nnx.merge(graphdef, frozen).latent_action(batch["obs"], batch["next"])

    frame_stack, size = lam_model_spec["frame_stack"], lam_model_spec["image_size"]
    obs = jax.ShapeDtypeStruct((1, size, size, 3 * frame_stack), np.uint8)
    out_dim = jax.eval_shape(latent, frozen, {"obs": obs, "next": obs}).shape[-1]
    actor = _new_actor(dcfg, workdir, frame_stack, out_dim, "bc", train.image_size)
    settings = _fit_settings(dcfg, dcfg.bc, train, frame_stack, "bc", {"lam": os.path.abspath(lam_dir)})
    return fit(actor, train, settings, inputs=lambda f, b: b["obs"], targets=latent, frozen=frozen, workdir=workdir)


def load_fitted(workdir: str, module: nnx.Module) -> nnx.Module:
    """Restores a module trained by ``fit`` (its checkpoint layout: module and fit's optimiser)."""
    ckpt = require_checkpoint(os.path.join(workdir, "checkpoints"))
    fitted = run_dir.read_json(os.path.join(workdir, "config.json"))
    decay = fitted.get(fitted.get("stage", ""), {}).get("weight_decay", 0.0)  # AdamW's state has another layout
    tx = optim.adam(1.0, 0, 1, weight_decay=decay, decoupled=True)
    graphdef, state = nnx.split((module, nnx.Optimizer(module, tx, wrt=nnx.Param)))
    restored = restore_state(ckpt, ckpt.latest_step(), state)
    ckpt.close()
    return nnx.merge(graphdef, restored)[0]


def load_actor(workdir: str, dtype: str | None = None) -> Actor:
    """The trained actor, computing in ``dtype`` (default: the dtype it was trained in)."""
    arch = load_arch(workdir)
    return load_fitted(workdir, _actor({**arch, "dtype": dtype or arch["dtype"]}))


def train_decoder(dcfg, actor_dir: str, labeled, workdir: str, actor: Actor | None = None) -> ActionDecoder:
    """Decoder z -> a_t on the frozen actor's outputs for the labeled observations (``actor``: the one
    in actor_dir when this process has just trained it)."""
    _check_stage(dcfg.decoder, labeled, "decoder")
    actor_arch = load_arch(actor_dir)
    if "image_size" in actor_arch:  # actors trained before it was recorded have none
        check_frames(actor_arch, labeled, f"the actor in {actor_dir}")
    graphdef, frozen = nnx.split(actor if actor is not None else load_actor(actor_dir))
    arch = {"kind": "decoder", "latent_dim": actor_arch["out_dim"], "action_dim": labeled.action_dim,
            "hidden_dim": dcfg.decoder.hidden_dim, "dtype": dcfg.dtype, "seed": dcfg.seed}
    run_dir.write_json(os.path.join(workdir, "spec.json"), arch)
    decoder = _decoder(arch)
    settings = _fit_settings(dcfg, dcfg.decoder, labeled, actor_arch["frame_stack"], "decoder",
                             {"actor": os.path.abspath(actor_dir)})
    return fit(decoder, labeled, settings, inputs=lambda f, b: nnx.merge(graphdef, f)(b["obs"]),
               targets=lambda f, b: b["action"], frozen=frozen, workdir=workdir)


def _decoder(arch: dict) -> ActionDecoder:
    return ActionDecoder(arch["latent_dim"], arch["action_dim"], arch["hidden_dim"],
                         dtype=lams.DTYPES[arch["dtype"]], rngs=nnx.Rngs(arch.get("seed", 0) + 1))


def train_bc_scratch(dcfg, labeled, workdir: str, frame_stack: int = 3) -> Actor:
    _check_stage(dcfg.bc_scratch, labeled, "bc_scratch")
    actor = _new_actor(dcfg, workdir, frame_stack, labeled.action_dim, "bc_scratch", labeled.image_size)
    settings = _fit_settings(dcfg, dcfg.bc_scratch, labeled, frame_stack, "bc_scratch", {})
    return fit(actor, labeled, settings, inputs=lambda f, b: b["obs"], targets=lambda f, b: b["action"],
               workdir=workdir)


def load_policy(actor_dir: str, decoder_dir: str | None = None, actor: Actor | None = None,
                decoder: ActionDecoder | None = None):
    """(policy uint8 stacks -> actions, frame_stack): decoder(actor(o)), or actor(o) alone, in float32
    whatever they were trained in (the reference evaluates outside autocast); ``actor`` and
    ``decoder``: the ones in those folders when this process has just trained them."""
    actor_arch = {**load_arch(actor_dir), "dtype": "float32"}
    actor = nets.rebuilt(actor, lambda: _actor(actor_arch)) if actor is not None else load_actor(actor_dir, "float32")
    if decoder_dir:
        arch = {**load_arch(decoder_dir), "dtype": "float32"}
        decoder = nets.rebuilt(decoder, lambda: _decoder(arch)) if decoder is not None else load_fitted(
            decoder_dir, _decoder(arch))
    # jax.jit on the split state: nnx.jit walks the module graph on every call (about 4 ms on one
    # core, measured), and evaluation calls the policy once per environment step. The state goes to
    # one device whichever mesh trained it (restored weights are there already).
    graphdef, state = nnx.split((actor, decoder))
    state = jax.device_put(state, jax.devices()[0])

    @jax.jit
    def policy(state, obs):
        act, dec = nnx.merge(graphdef, state)
        out = act(obs)
        return dec(out) if dec is not None else out

    return (lambda obs: np.asarray(policy(state, obs))), actor_arch["frame_stack"]


def normalizers(env_cfg: env_config.EnvConfig) -> dict:
    """The paper's (BC on the full labeled data; its distractor numbers for every distracting preset)
    and the expert's reference return."""
    setting = "vanilla" if env_cfg.preset == "vanilla" else "distractors"
    return {"paper": PAPER_BC_RETURNS[setting][env_cfg.task], "expert": REFERENCE_RETURNS[env_cfg.task]}


def evaluate(policy, frame_stack: int, env_cfg: env_config.EnvConfig, dcfg, out: str | None = None,
             progress: bool = True) -> dict:
    from data_pipeline import vec_env  # the simulator: imported only to evaluate
    seeds = [dcfg.eval.seed + i for i in range(dcfg.eval.episodes)]
    returns = vec_env.run_episodes(policy, env_cfg, seeds, frame_stack, dcfg.eval.workers,
                                   dcfg.eval.max_steps or None, progress=progress)
    norm = normalizers(env_cfg)
    mean = float(np.mean(returns))
    result = {"returns": returns, "mean_return": mean, "seeds": seeds,
              "normalized_return": mean / norm["paper"], "expert_normalized_return": mean / norm["expert"],
              "normalizers": norm, "env": {k: getattr(env_cfg, k) for k in ("task", "preset", "split")},
              "max_steps": dcfg.eval.max_steps or None}
    if out:
        run_dir.write_json(out, result)
        metrics.log_result(os.path.join(os.path.dirname(os.path.abspath(out)), "eval"),
                           {k: result[k] for k in ("mean_return", "normalized_return", "expert_normalized_return")},
                           metrics.log_settings(dcfg), series={"eval/return": returns})
    return result
