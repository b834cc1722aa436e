"""Latent action models: LAPO, LAOM (optionally supervised with a few action labels) and a supervised IDM.

Every model exposes ``loss(batch, key) -> (loss, metrics)``, ``latent_action(obs, future)`` and
``embed(obs)``. Batches hold uint8 frame stacks [B, H, W, 3*S] under 'obs' (o_t), 'next' (o_{t+1})
and 'future' (o_{t+k}), the true 'action' a_t and 'state' s_t (used only by the stop-gradient
probes), and for supervised variants a 'labeled' sub-batch of the same form.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from lam_jax import augment as aug_lib
from lam_jax import nets
from lam_jax.fsq import fsq

sg = jax.lax.stop_gradient


def mse(pred, target):
    return jnp.mean(jnp.square(pred.astype(jnp.float32) - target.astype(jnp.float32)))


def _dtype(cfg):
    return {"float32": jnp.float32, "bfloat16": jnp.bfloat16}[cfg.get("dtype", "float32")]


def _channels(cfg):
    return tuple(int(c * cfg.encoder_scale) for c in (16, 32, 32))


def _standardise(x):
    """Per-sample zero mean, unit variance over features (no parameters)."""
    x = x.astype(jnp.float32)
    return (x - x.mean(-1, keepdims=True)) * jax.lax.rsqrt(x.var(-1, keepdims=True) + 1e-6)


class Probes(nnx.Module):
    """Online linear probes on stop-gradient inputs: latent -> action, embedding -> state.

    Inputs are standardised per sample (no parameters) so one learning rate suits every model's
    latent scale; the offline ridge probe in ``lam_jax.probe`` is the reported measure.
    """

    def __init__(self, latent_dim, emb_dim, action_dim, state_dim, *, rngs):
        self.action = nets.linear(latent_dim, action_dim, dtype=jnp.float32, rngs=rngs, scale=1.0)
        self.state = nets.linear(emb_dim, state_dim, dtype=jnp.float32, rngs=rngs, scale=1.0)

    def __call__(self, latent, emb, batch):
        action_mse = mse(self.action(_standardise(sg(latent))), batch["action"])
        state_mse = mse(self.state(_standardise(sg(emb))), batch["state"])
        return action_mse + state_mse, {"probe/action_mse": action_mse, "probe/state_mse": state_mse}


class LAPO(nnx.Module):
    """IDM on (o_t, o_{t+k}) -> latent; pixel FDM (o_t, latent) -> o_{t+1} (last frame of the stack)."""

    def __init__(self, cfg: ml_collections.ConfigDict, *, image_size, frame_stack, action_dim, state_dim, rngs):
        dtype, ch = _dtype(cfg), _channels(cfg)
        c = 3 * frame_stack
        fh, fw, fc = nets.feature_shape(image_size, ch)
        self.cfg = ml_collections.FrozenConfigDict(cfg)  # hashable: part of the static graph
        self.feature_hw = (fh, fw, fc)
        self.idm_encoder = nets.Encoder(2 * c, ch, dtype=dtype, rngs=rngs)
        self.idm_head = nets.linear(fh * fw * fc, cfg.latent_dim, dtype=dtype, rngs=rngs, scale=1.0)
        self.fdm_encoder = nets.Encoder(c, ch, dtype=dtype, rngs=rngs)
        self.latent_proj = nets.linear(cfg.latent_dim, fh * fw * fc, dtype=dtype, rngs=rngs, scale=1.0)
        self.decoder = nets.Decoder(ch, 3, dtype=dtype, rngs=rngs)
        self.probes = Probes(cfg.latent_dim, fh * fw * fc, action_dim, state_dim, rngs=rngs)

    def latent_action(self, obs, future):
        x = nets.to_unit_range(jnp.concatenate([obs, future], -1))
        z = self.idm_head(self.idm_encoder(x).reshape(obs.shape[0], -1))
        return fsq(z, self.cfg.fsq_levels) if self.cfg.fsq_levels else z

    def embed(self, obs):
        return self.fdm_encoder(nets.to_unit_range(obs)).reshape(obs.shape[0], -1)

    def loss(self, batch, key):
        del key
        z = self.latent_action(batch["obs"], batch["future"])
        feat = self.fdm_encoder(nets.to_unit_range(batch["obs"]))
        pred = self.decoder(feat + self.latent_proj(z).reshape((-1,) + self.feature_hw))
        fdm_loss = mse(pred, nets.to_unit_range(batch["next"][..., -3:]))
        probe_loss, metrics = self.probes(z, feat.reshape(feat.shape[0], -1), batch)
        metrics["fdm_loss"] = fdm_loss
        return fdm_loss + probe_loss, metrics


class LAOM(nnx.Module):
    """Shared encoder; latent IDM (e_t, e_{t+k}) -> z; latent FDM (sg(e_t), z) -> EMA-target e_{t+1}.

    With ``labeled_loss_coef > 0`` a linear head z -> a_t is trained on the labeled sub-batch.
    """

    def __init__(self, cfg: ml_collections.ConfigDict, *, image_size, frame_stack, action_dim, state_dim, rngs):
        dtype, ch = _dtype(cfg), _channels(cfg)
        fh, fw, fc = nets.feature_shape(image_size, ch)
        emb = fh * fw * fc
        self.cfg = ml_collections.FrozenConfigDict(cfg)  # hashable: part of the static graph
        self.encoder = nets.Encoder(3 * frame_stack, ch, dtype=dtype, rngs=rngs)
        # EMA copy, excluded from gradients; its own buffers so the step can donate both.
        self.target_encoder = nnx.clone(self.encoder)
        nnx.update(self.target_encoder, jax.tree.map(jnp.copy, nnx.state(self.encoder)))
        self.idm = nets.ReinjectMLP(2 * emb, cfg.hidden_dim, cfg.latent_dim, cfg.num_blocks, dtype=dtype, rngs=rngs)
        self.fdm = nets.ReinjectMLP(emb + cfg.latent_dim, cfg.hidden_dim, emb, cfg.num_blocks, dtype=dtype, rngs=rngs)
        self.probes = Probes(cfg.latent_dim, emb, action_dim, state_dim, rngs=rngs)
        if cfg.labeled_loss_coef > 0:
            self.action_head = nets.linear(cfg.latent_dim, action_dim, dtype=jnp.float32, rngs=rngs, scale=1.0)

    def embed(self, obs, encoder=None):
        return (encoder or self.encoder)(nets.to_unit_range(obs)).reshape(obs.shape[0], -1)

    def _latent(self, e_obs, e_future):
        z = self.idm(jnp.concatenate([e_obs, e_future], -1))
        return fsq(z, self.cfg.fsq_levels) if self.cfg.fsq_levels else z

    def latent_action(self, obs, future):
        return self._latent(self.embed(obs), self.embed(future))

    def _augmented_views(self, key, *stacks, clean_target: bool = False):
        """Augmented copies of each sample's frame stacks.

        'shared': one transform per sample, applied to all its stacks (the FDM target too), so the
        latent has no view change to explain; 'independent': a fresh transform per stack, with the
        last stack (the FDM target) left clean when ``clean_target``.
        """
        mode = self.cfg.augment
        if not mode:
            return stacks
        if mode not in ("shared", "independent"):
            raise ValueError(f"model.augment must be '', 'shared' or 'independent', got {mode!r}")
        as_u8 = lambda x: x.round().clip(0, 255).astype(jnp.uint8)  # noqa: E731
        keys = jax.random.split(key, len(stacks))
        b = stacks[0].shape[0]
        if mode == "shared":
            h = aug_lib.random_homographies(keys[0], b)
            return tuple(as_u8(aug_lib.warp(x.astype(jnp.float32), h)) for x in stacks)
        views = [as_u8(aug_lib.augment(k, x.astype(jnp.float32))) for k, x in zip(keys, stacks)]
        if clean_target:
            views[-1] = stacks[-1]
        return tuple(views)

    def loss(self, batch, key):
        k_batch, k_lab = jax.random.split(key)
        obs, future, nxt = self._augmented_views(k_batch, batch["obs"], batch["future"], batch["next"],
                                                 clean_target=True)
        e_obs = self.embed(obs)
        e_future = self.embed(future)
        z = self._latent(e_obs, e_future)
        pred = self.fdm(jnp.concatenate([sg(e_obs), z], -1))
        target = sg(self.embed(nxt, self.target_encoder))
        if self.cfg.get("fdm_normalize", False):  # compare directions, not a drifting scale
            pred, target = _standardise(pred), _standardise(target)
        fdm_loss = mse(pred, target)
        probe_loss, metrics = self.probes(z, e_obs, batch)
        metrics["fdm_loss"] = fdm_loss
        total = fdm_loss + probe_loss
        if self.cfg.labeled_loss_coef > 0:
            lab = batch["labeled"]
            lab_obs, lab_future = self._augmented_views(k_lab, lab["obs"], lab["future"])
            z_lab = self._latent(self.embed(lab_obs), self.embed(lab_future))
            sup = mse(self.action_head(z_lab.astype(jnp.float32)), lab["action"])
            metrics["labeled_action_mse"] = sup
            total = total + self.cfg.labeled_loss_coef * sup
        return total, metrics

    def ema_update(self, tau: float):
        online, target = nnx.state(self.encoder, nnx.Param), nnx.state(self.target_encoder, nnx.Param)
        nnx.update(self.target_encoder, jax.tree.map(lambda t, o: (1 - tau) * t + tau * o, target, online))


class IDMBaseline(nnx.Module):
    """Supervised inverse dynamics (o_t, o_{t+1}) -> a_t, trained on the labeled sub-batch only."""

    def __init__(self, cfg: ml_collections.ConfigDict, *, image_size, frame_stack, action_dim, state_dim, rngs):
        dtype, ch = _dtype(cfg), _channels(cfg)
        fh, fw, fc = nets.feature_shape(image_size, ch)
        self.cfg = ml_collections.FrozenConfigDict(cfg)  # hashable: part of the static graph
        self.encoder = nets.Encoder(6 * frame_stack, ch, dtype=dtype, rngs=rngs)
        self.hidden = nets.linear(fh * fw * fc, cfg.hidden_dim, dtype=dtype, rngs=rngs)
        self.head = nets.linear(cfg.hidden_dim, action_dim, dtype=jnp.float32, rngs=rngs, scale=1.0)
        self.probes = Probes(action_dim, fh * fw * fc, action_dim, state_dim, rngs=rngs)

    def _features(self, obs, next_obs):
        x = nets.to_unit_range(jnp.concatenate([obs, next_obs], -1))
        return self.encoder(x).reshape(obs.shape[0], -1)

    def latent_action(self, obs, future):
        return self.head(jax.nn.gelu(self.hidden(self._features(obs, future))).astype(jnp.float32))

    def embed(self, obs):
        return self._features(obs, obs)

    def loss(self, batch, key):
        del key
        lab = batch["labeled"]
        sup = mse(self.latent_action(lab["obs"], lab["next"]), lab["action"])
        feats = self._features(batch["obs"], batch["next"])
        pred = self.head(jax.nn.gelu(self.hidden(feats)).astype(jnp.float32))
        probe_loss, metrics = self.probes(pred, feats, batch)
        metrics["labeled_action_mse"] = sup
        return sup + probe_loss, metrics


MODELS = {"lapo": LAPO, "laom": LAOM, "idm": IDMBaseline}


def make_model(cfg, *, image_size, frame_stack, action_dim, state_dim, seed=0):
    if cfg.name not in MODELS:
        raise ValueError(f"unknown model {cfg.name!r}; expected one of {sorted(MODELS)}")
    return MODELS[cfg.name](cfg, image_size=image_size, frame_stack=frame_stack, action_dim=action_dim,
                            state_dim=state_dim, rngs=nnx.Rngs(seed))


def needs_labels(cfg) -> bool:
    return cfg.name == "idm" or cfg.get("labeled_loss_coef", 0.0) > 0
