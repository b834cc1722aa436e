"""Downstream stages after LAM pretraining, each resumable from its own orbax checkpoints.

- ``bc``: an actor o_t -> z regresses the frozen LAM's latent actions z(o_t, o_{t+1}) over the
  whole unlabeled dataset (for the IDM baseline z is its predicted action: BC on IDM labels);
- ``decoder``: a small MLP z -> a_t trained on the labeled trajectories, actor frozen;
- ``bc_scratch``: the baseline, an actor o_t -> a_t trained on the labeled trajectories only;
- ``evaluate``: the resulting policy in the same DCS setting, returns normalised by the expert's.
"""
from __future__ import annotations

import json
import os

import jax
import numpy as np
from flax import nnx

from data_pipeline import dcs, vec_env
from data_pipeline.experts import REFERENCE_RETURNS
from lam_jax.checkpoint import require_checkpoint
from lam_jax.policy_nets import ActionDecoder, Actor
from lam_jax.restore import load_lam
from lam_jax.supervised import fit


def _lam_latent(lam):
    graphdef, state = nnx.split(lam)
    latent = lambda frozen, batch: nnx.merge(graphdef, frozen).latent_action(batch["obs"], batch["next"])  # noqa: E731
    return latent, state


def _latent_dim(lam, spec) -> int:
    s, c = spec["image_size"], 3 * spec["frame_stack"]
    obs = jax.ShapeDtypeStruct((1, s, s, c), np.uint8)
    return jax.eval_shape(lambda o: lam.latent_action(o, o), obs).shape[-1]


def _fit_kwargs(dcfg, spec, workdir, steps, desc):
    return dict(num_steps=steps, batch_size=dcfg.batch_size, learning_rate=dcfg.learning_rate,
                frame_stack=spec["frame_stack"], workdir=workdir, log_every=dcfg.log_every,
                save_every=dcfg.save_every, num_devices=dcfg.num_devices, desc=desc)


def _save_spec(workdir, **spec):
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "spec.json"), "w") as f:
        json.dump(spec, f)


def _load_spec(workdir) -> dict:
    with open(os.path.join(workdir, "spec.json")) as f:
        return json.load(f)


def train_bc(dcfg, lam_dir: str, train, workdir: str) -> Actor:
    _, lam, spec = load_lam(lam_dir)
    latent, frozen = _lam_latent(lam)
    out_dim = _latent_dim(lam, spec)
    _save_spec(workdir, out_dim=out_dim, frame_stack=spec["frame_stack"])
    actor = Actor(spec["frame_stack"], out_dim, dcfg.actor_encoder_scale, dcfg.hidden_dim, rngs=nnx.Rngs(0))
    return fit(actor, train, inputs=lambda f, b: b["obs"], targets=latent, frozen=frozen,
               **_fit_kwargs(dcfg, spec, workdir, dcfg.bc_steps, "bc"))


def train_decoder(dcfg, lam_dir: str, labeled, workdir: str) -> ActionDecoder:
    _, lam, spec = load_lam(lam_dir)
    latent, frozen = _lam_latent(lam)
    latent_dim = _latent_dim(lam, spec)
    _save_spec(workdir, latent_dim=latent_dim, action_dim=labeled.action_dim)
    decoder = ActionDecoder(latent_dim, labeled.action_dim, dcfg.hidden_dim, rngs=nnx.Rngs(1))
    return fit(decoder, labeled, inputs=latent, targets=lambda f, b: b["action"], frozen=frozen,
               **_fit_kwargs(dcfg, spec, workdir, dcfg.decoder_steps, "decoder"))


def train_bc_scratch(dcfg, labeled, workdir: str, frame_stack: int = 3) -> Actor:
    spec = {"frame_stack": frame_stack}
    _save_spec(workdir, out_dim=labeled.action_dim, frame_stack=frame_stack)
    actor = Actor(frame_stack, labeled.action_dim, dcfg.actor_encoder_scale, dcfg.hidden_dim, rngs=nnx.Rngs(0))
    return fit(actor, labeled, inputs=lambda f, b: b["obs"], targets=lambda f, b: b["action"],
               **_fit_kwargs(dcfg, spec, workdir, dcfg.decoder_steps, "bc from scratch"))


def load_fitted(workdir: str, module: nnx.Module) -> nnx.Module:
    """Restores a module trained by ``fit`` (its (module, optimiser) checkpoint layout)."""
    import optax
    ckpt = require_checkpoint(os.path.join(workdir, "checkpoints"))
    graphdef, state = nnx.split((module, nnx.Optimizer(module, optax.adam(1.0), wrt=nnx.Param)))
    restored = ckpt.restore(ckpt.latest_step(), {"state": state})["state"]
    ckpt.close()
    return nnx.merge(graphdef, restored)[0]


def load_policy(actor_dir: str, decoder_dir: str | None, dcfg):
    """A jitted policy uint8 stacks -> actions: decoder(actor(o)) or, without a decoder, actor(o)."""
    a_spec = _load_spec(actor_dir)
    actor = load_fitted(actor_dir, Actor(a_spec["frame_stack"], a_spec["out_dim"], dcfg.actor_encoder_scale,
                                         dcfg.hidden_dim, rngs=nnx.Rngs(0)))
    decoder = None
    if decoder_dir:
        d_spec = _load_spec(decoder_dir)
        decoder = load_fitted(decoder_dir, ActionDecoder(d_spec["latent_dim"], d_spec["action_dim"], dcfg.hidden_dim,
                                                         rngs=nnx.Rngs(1)))

    @nnx.jit
    def policy(actor, decoder, obs):
        out = actor(obs)
        return decoder(out) if decoder is not None else out

    return lambda obs: np.asarray(policy(actor, decoder, obs)), a_spec["frame_stack"]


def evaluate(policy, frame_stack: int, env_cfg: dcs.EnvConfig, dcfg, out: str | None = None) -> dict:
    seeds = [dcfg.eval_seed + i for i in range(dcfg.eval_episodes)]
    returns = vec_env.run_episodes(policy, env_cfg, seeds, frame_stack, dcfg.eval_workers,
                                   dcfg.eval_max_steps or None)
    reference = REFERENCE_RETURNS[env_cfg.task]
    result = {"returns": returns, "mean_return": float(np.mean(returns)), "reference_return": reference,
              "normalized_return": float(np.mean(returns) / reference), "seeds": seeds,
              "env": {k: getattr(env_cfg, k) for k in ("task", "preset", "split")}}
    if out:
        with open(out, "w") as f:
            json.dump(result, f, indent=1)
    return result
