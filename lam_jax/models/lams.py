"""Latent action models with the reference's architectures and losses (dunnolab/laom ``src/nn.py``,
``train_lapo.py``, ``train_laom.py``, ``train_laom_labels.py``, ``train_idm.py``).

Every model exposes ``loss(batch, key) -> (loss, metrics)``, ``latent_action(obs, future)`` and
``embed(obs)``; LAOM+supervision and the IDM also ``predict_action(obs, next)``. Batches hold
uint8 frame stacks [B, H, W, 3*S] under 'obs' (o_t), 'next' (o_{t+1}) and 'future' (o_{t+k}),
the dataset action a_t under 'action' and the state s_t under 'state' (both only feed the
stop-gradient probes), and for LAOM+supervision a 'labeled' batch of the same form.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from lam_jax.models import augment as aug_lib
from lam_jax.models import heads, nets
from lam_jax.models.fsq import fsq, num_levels

sg = jax.lax.stop_gradient
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
# Sub-modules that are not part of the LAM the reference counts and optimises.
NOT_COUNTED = ("probes", "target_encoder")


def mse(pred, target):
    """Mean over every element, in float32 (torch autocast runs mse_loss in float32)."""
    return jnp.mean(jnp.square(pred.astype(jnp.float32) - target.astype(jnp.float32)))


def mean_norm(x):
    """Mean L2 norm of a batch's rows, in float32: a scale drift a loss curve does not show."""
    return jnp.mean(jnp.linalg.norm(x.astype(jnp.float32).reshape(x.shape[0], -1), axis=-1))


def compute_dtype(cfg):
    name = cfg.get("dtype", "float32")
    if name not in DTYPES:
        raise ValueError(f"model.dtype must be one of {sorted(DTYPES)}, got {name!r}")
    return DTYPES[name]


def channels(cfg) -> tuple[int, ...]:
    """Encoder widths: the reference's base channels times encoder_scale (widths round down, at least 1)."""
    return tuple(max(1, int(c * cfg.encoder_scale)) for c in cfg.encoder_channels)


class Probes(nnx.Module):
    """Online linear probes on stop-gradient inputs, trained by their own Adam on every training
    batch (reference ``train_laom.py`` ~218-241): ``{name: (in_dim, out_dim)}``. Inputs are the
    model's raw latents and embeddings; targets the dataset's actions and states. Plain
    ``nn.Linear`` in the reference, so torch's default init, not the models' orthogonal one."""

    def __init__(self, dims: dict, *, dtype, rngs: nnx.Rngs):
        self.names = tuple(dims)
        for name, (cin, cout) in dims.items():
            setattr(self, name, nets.torch_default_linear(cin, cout, dtype=dtype, rngs=rngs))

    def __call__(self, inputs: dict):
        """inputs: {name: (x, target)} -> (sum of MSEs, {'probe/<name>_mse': MSE})."""
        metrics = {f"probe/{n}_mse": mse(getattr(self, n)(sg(x)), y) for n, (x, y) in inputs.items()}
        return sum(metrics.values()), metrics


def _last_frame(stack):
    return stack[..., -3:].astype(jnp.float32)


# Which of the keys drawn for (o_t, o_{t+k}, o_{t+1}) each view uses: one key, one transform.
VIEW_KEYS = {"independent": (0, 1, 2), "pair": (0, 0, 2), "shared": (0, 0, 0)}


def _view_keys(cfg) -> tuple:
    views = cfg.get("augment_views", "independent")
    if views not in VIEW_KEYS:
        raise ValueError(f"model.augment_views must be one of {sorted(VIEW_KEYS)}, got {views!r}")
    return VIEW_KEYS[views]


def _augmenter(enabled: bool, image_size: int, scale: float = 1.0):
    settings = aug_lib.scaled(aug_lib.reference_settings(image_size), scale)
    return (lambda key, x: aug_lib.augment(key, x, settings)) if enabled else (lambda key, x: x)


class LAPO(nnx.Module):
    """Early-fusion IDM (o_t, o_{t+k}) -> flatten -> GELU -> Linear -> z; pixel FDM: its own encoder
    of o_t, z projected to a feature map and concatenated on the channels, decoded to the whole
    next frame stack o_{t+1} (reference ``IDM``, ``FDM``, ``LAPO``)."""

    def __init__(self, cfg, *, image_size, frame_stack, action_dim, state_dim, rngs):
        del state_dim
        dtype, ch = compute_dtype(cfg), channels(cfg)
        c = 3 * frame_stack
        if image_size % 2 ** len(ch):
            raise ValueError(f"LAPO's decoder needs image_size divisible by {2 ** len(ch)}, got {image_size}")
        self.feature_shape = nets.feature_shape(image_size, ch)
        flat = math.prod(self.feature_shape)
        self.fsq_levels = num_levels(cfg.fsq_levels)  # () when off
        self.idm_encoder = nets.Encoder(2 * c, ch, cfg.encoder_num_res_blocks, dtype=dtype, rngs=rngs)
        self.idm_out = nets.linear(flat, cfg.latent_dim, dtype=dtype, rngs=rngs)
        self.fdm_encoder = nets.Encoder(c, ch, cfg.encoder_num_res_blocks, dtype=dtype, rngs=rngs)
        self.act_proj = nets.linear(cfg.latent_dim, flat, dtype=dtype, rngs=rngs)
        self.decoder = nets.Decoder(2 * ch[-1], ch, c, cfg.encoder_num_res_blocks, dtype=dtype, rngs=rngs)
        self.probes = Probes({"latent_action": (cfg.latent_dim, action_dim)}, dtype=dtype, rngs=rngs)

    def _latent(self, obs, future):
        x = self.idm_encoder(jnp.concatenate([obs, future], -1))
        z = self.idm_out(nets.gelu(x.reshape(x.shape[0], -1)))
        if not self.fsq_levels:
            return z
        return fsq(z, self.fsq_levels if len(self.fsq_levels) > 1 else self.fsq_levels[0])

    def latent_action(self, obs, future):
        return self._latent(nets.to_unit_range(obs), nets.to_unit_range(future))

    def embed(self, obs):
        return self.fdm_encoder(nets.to_unit_range(obs)).reshape(obs.shape[0], -1)

    def _predict(self, obs, future):
        """(predicted next frame stack, z, the FDM encoder's features of o_t)."""
        z = self._latent(obs, future)
        feat = self.fdm_encoder(obs)
        act = self.act_proj(z).reshape((-1,) + self.feature_shape).astype(feat.dtype)
        return self.decoder(jnp.concatenate([feat, act], -1)), z, feat

    def previews(self, batch, key):
        """o_t, the true and the predicted o_{t+1} (last frame of each stack): [B, 3, H, W, 3]."""
        del key
        obs, future, nxt = (nets.to_unit_range(batch[k]) for k in ("obs", "future", "next"))
        pred = self._predict(obs, future)[0]
        return {"lapo/next_frame": jnp.stack([_last_frame(x) for x in (obs, nxt, pred)], 1)}

    def loss(self, batch, key):
        del key
        obs, future, nxt = (nets.to_unit_range(batch[k]) for k in ("obs", "future", "next"))
        pred, z, feat = self._predict(obs, future)
        fdm_loss = mse(pred, nxt)
        probe_loss, metrics = self.probes({"latent_action": (z, batch["action"])})
        return fdm_loss + probe_loss, {**metrics, "fdm_loss": fdm_loss, "norm/latent_action": mean_norm(z),
                                       "norm/embedding": mean_norm(feat)}


class LAOM(nnx.Module):
    """Shared encoder (optionally LayerNorm-ed, no affine); IDM head [e_t, e_{t+k}] -> z; FDM head
    [sg(e_t), z] -> predicted EMA-target embedding of o_{t+1}. With augmentation on, o_t, o_{t+k}
    and o_{t+1} are augmented independently, the target's view included (reference ``LAOM``,
    ``train_laom.py`` ~184-216); ``augment_views`` can share one transform between views instead. With ``labeled_loss_coef > 0`` a linear head z -> a_t is trained
    on an (augmented) labeled batch (``LAOMWithLabels``, ``train_laom_labels.py`` ~262-284)."""

    def __init__(self, cfg, *, image_size, frame_stack, action_dim, state_dim, rngs):
        dtype, ch = compute_dtype(cfg), channels(cfg)
        emb = math.prod(nets.feature_shape(image_size, ch))
        self.norm_out = bool(cfg.encoder_norm_out)
        self.labeled_loss_coef = float(cfg.labeled_loss_coef)
        self.augment = bool(cfg.augment)
        self.augment_scale = float(cfg.get("augment_scale", 1.0))
        self.view_keys = _view_keys(cfg)
        self.image_size = image_size
        self.encoder = nets.Encoder(3 * frame_stack, ch, cfg.encoder_num_res_blocks, dtype=dtype, rngs=rngs)
        self.out_norm = heads.layer_norm(emb, affine=False, rngs=rngs) if self.norm_out else None
        # The EMA target: its own buffers (so the step can donate both), excluded from gradients.
        self.target_encoder = nnx.clone(self.encoder)
        nnx.update(self.target_encoder, jax.tree.map(jnp.copy, nnx.state(self.encoder)))
        self.idm_head = heads.latent_act_head(emb, cfg.act_head_dim, cfg.latent_dim, dtype=dtype, rngs=rngs)
        self.fdm_head = heads.latent_obs_head(emb, cfg.obs_head_dim, cfg.latent_dim, dtype=dtype, rngs=rngs)
        if self.labeled_loss_coef > 0:
            self.true_action_head = nets.linear(cfg.latent_dim, action_dim, dtype=dtype, rngs=rngs)
        self.probes = Probes({"embedding_state": (emb, state_dim), "latent_action": (cfg.latent_dim, action_dim),
                              "embedding_action": (emb, action_dim)}, dtype=dtype, rngs=rngs)

    def _embed(self, x, encoder=None):
        e = (encoder or self.encoder)(x)
        e = e.reshape(e.shape[0], -1)
        return self.out_norm(e) if self.norm_out else e

    def _latent(self, obs, future):
        e_obs, e_future = jnp.split(self._embed(jnp.concatenate([obs, future])), 2)  # one 2B pass
        ee = jnp.concatenate([e_obs, e_future], -1)
        return self.idm_head(ee, ee), e_obs

    def latent_action(self, obs, future):
        return self._latent(nets.to_unit_range(obs), nets.to_unit_range(future))[0]

    def predict_action(self, obs, nxt):
        return self.true_action_head(self.latent_action(obs, nxt))

    def embed(self, obs):
        return self._embed(nets.to_unit_range(obs))

    def loss(self, batch, key):
        keys = jax.random.split(key, 5)
        aug = _augmenter(self.augment, self.image_size, self.augment_scale)
        obs, future, nxt = (aug(keys[i], nets.to_unit_range(batch[name]))
                            for i, name in zip(self.view_keys, ("obs", "future", "next")))
        z, e_obs = self._latent(obs, future)
        pred = self.fdm_head(jnp.concatenate([sg(e_obs), z], -1), z)
        target = sg(self._embed(nxt, self.target_encoder))
        fdm_loss = mse(pred, target)
        probe_loss, metrics = self.probes({"embedding_state": (e_obs, batch["state"]),
                                           "latent_action": (z, batch["action"]),
                                           "embedding_action": (e_obs, batch["action"])})
        # the reference's latent_act_norm, online_obs_norm and target_obs_norm, and the online embedding's
        metrics.update({"fdm_loss": fdm_loss, "norm/latent_action": mean_norm(z), "norm/embedding": mean_norm(e_obs),
                        "norm/predicted_embedding": mean_norm(pred), "norm/target_embedding": mean_norm(target)})
        total = fdm_loss + probe_loss
        if self.labeled_loss_coef > 0:
            lab = batch["labeled"]
            z_lab, _ = self._latent(aug(keys[3], nets.to_unit_range(lab["obs"])),
                                    aug(keys[3 + self.view_keys[1]], nets.to_unit_range(lab["future"])))
            sup = mse(self.true_action_head(z_lab), lab["action"])
            metrics["labeled_action_mse"] = sup
            total = total + self.labeled_loss_coef * sup
        return total, metrics

    def previews(self, batch, key):
        """o_t, then o_t, o_{t+k} and o_{t+1} as the loss sees them (augmented when augment is on),
        last frame of each stack: [B, 4, H, W, 3]."""
        keys = jax.random.split(key, 3)
        aug = _augmenter(self.augment, self.image_size, self.augment_scale)
        views = [nets.to_unit_range(batch["obs"])] + [aug(keys[i], nets.to_unit_range(batch[name]))
                                                      for i, name in zip(self.view_keys, ("obs", "future", "next"))]
        return {"laom/views": jnp.stack([_last_frame(v) for v in views], 1)}

    def ema_update(self, tau: float):
        online, target = nnx.state(self.encoder, nnx.Param), nnx.state(self.target_encoder, nnx.Param)
        nnx.update(self.target_encoder, jax.tree.map(lambda t, o: (1 - tau) * t + tau * o, target, online))


class IDM(nnx.Module):
    """Supervised inverse dynamics on the labeled data only: a shared encoder (late fusion) and an
    IDM head [e_t, e_{t+k}] -> a_t (reference ``IDMLabels``, ``train_idm.py``)."""

    def __init__(self, cfg, *, image_size, frame_stack, action_dim, state_dim, rngs):
        dtype, ch = compute_dtype(cfg), channels(cfg)
        emb = math.prod(nets.feature_shape(image_size, ch))
        self.augment = bool(cfg.augment)
        self.augment_scale = float(cfg.get("augment_scale", 1.0))
        self.image_size = image_size
        self.encoder = nets.Encoder(3 * frame_stack, ch, cfg.encoder_num_res_blocks, dtype=dtype, rngs=rngs)
        self.idm_head = heads.latent_act_head(emb, cfg.act_head_dim, action_dim, dtype=dtype, rngs=rngs)
        self.probes = Probes({"embedding_state": (emb, state_dim)}, dtype=dtype, rngs=rngs)

    def _predict(self, obs, future):
        e = self.encoder(jnp.concatenate([obs, future]))
        e_obs, e_future = jnp.split(e.reshape(e.shape[0], -1), 2)
        ee = jnp.concatenate([e_obs, e_future], -1)
        return self.idm_head(ee, ee), e_obs

    def latent_action(self, obs, future):
        return self._predict(nets.to_unit_range(obs), nets.to_unit_range(future))[0]

    predict_action = latent_action

    def embed(self, obs):
        e = self.encoder(nets.to_unit_range(obs))
        return e.reshape(e.shape[0], -1)

    def loss(self, batch, key):
        aug = _augmenter(self.augment, self.image_size, self.augment_scale)
        k_obs, k_future = jax.random.split(key)
        pred, e_obs = self._predict(aug(k_obs, nets.to_unit_range(batch["obs"])),
                                    aug(k_future, nets.to_unit_range(batch["future"])))
        sup = mse(pred, batch["action"])
        probe_loss, metrics = self.probes({"embedding_state": (e_obs, batch["state"])})
        return sup + probe_loss, {**metrics, "action_mse": sup}


MODELS = {"lapo": LAPO, "laom": LAOM, "idm": IDM}


def make_model(cfg: ml_collections.ConfigDict, *, image_size, frame_stack, action_dim, state_dim, seed=0):
    if cfg.name not in MODELS:
        raise ValueError(f"unknown model {cfg.name!r}; expected one of {sorted(MODELS)}")
    return MODELS[cfg.name](cfg, image_size=image_size, frame_stack=frame_stack, action_dim=action_dim,
                            state_dim=state_dim, rngs=nnx.Rngs(seed))


def uses_labeled_batch(cfg) -> bool:
    """LAOM+supervision draws a labeled batch every step beside the unlabeled one."""
    return cfg.name == "laom" and cfg.get("labeled_loss_coef", 0.0) > 0


def trains_on_labels_only(cfg) -> bool:
    """The IDM baseline trains on the labeled trajectories alone."""
    return cfg.name == "idm"


def needs_labels(cfg) -> bool:
    return uses_labeled_batch(cfg) or trains_on_labels_only(cfg)


# Models with a head for true actions: scored by the eval-split action MSE (paper Fig. 9a).
predicts_actions = needs_labels


def counted_params(model) -> int:
    """Trainable parameters of the LAM itself: no probes, no EMA target (as the reference counts)."""
    total = 0
    for path, leaf in jax.tree_util.tree_leaves_with_path(nnx.state(model, nnx.Param)):
        if not any(name in jax.tree_util.keystr(path) for name in NOT_COUNTED):
            total += int(leaf.size)
    return total
