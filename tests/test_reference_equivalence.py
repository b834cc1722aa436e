"""lam-jax against the reference implementation (dunnolab/laom), from fixtures its own code computed.

tests/fixtures/reference/ was written by tools/make_reference_fixtures.py with torch (see
docs/reference_oracle.md); nothing here needs torch. Each test loads the reference's weights into
our module through ``lam_jax.models.torch_mapping`` (the one torch -> NNX mapping), runs our forward
pass, loss, gradient and training update on the same inputs, and compares every quantity.

Tolerances (float32 on both sides, different summation orders):
- forward outputs, loss terms, gradients, learning rates, FSQ: ``max|ours - ref| / max|ref|``
  per array at most RTOL (1e-5; gradients GRAD_RTOL, 1e-4: they go through twice as many
  reductions, and a few elements are sums that nearly cancel). A wrong layout, coefficient or
  layer gives errors of order 1.
- parameters after an update (and the EMA target): an update is 1e-5 to 1e-4 of a parameter, so a
  relative tolerance on the parameter cannot see it. Every element must lie within ULPS (4) units
  in the last place of its float32 value plus a fraction of the tensor's largest update:
  UPDATE_RTOL (1e-4) when our optimiser is fed the reference's own gradients (optax computes
  Adam's bias corrections in float32, torch in float64: 6e-6 of the first updates), TRAINED_RTOL
  (1e-2) for our whole training step on our own gradients, because Adam divides by |g| + 1e-8 and
  so turns the 1e-7 absolute gradient differences of elements with |g| ~ 1e-7 into differences of
  1e-3 of their update (measured: 5e-4 beyond one ULP). A wrong learning rate, schedule, Adam rule or EMA
  rate moves elements by a sizeable fraction of the update.
- augmentation: ``max|ours - ref|`` at most AUG_ATOL on images in [-1, 1] (sampling grids are
  built in float32 on both sides, about 1e-5 px apart).

With ``-s`` the largest measured differences are printed per quantity.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from configs import idm as idm_config
from configs import laom as laom_config
from configs import laom_labels as laom_labels_config
from configs import lapo as lapo_config
from lam_jax.models import augment, lams, nets
from lam_jax.training import optim, train_lam
from lam_jax.models.fsq import fsq
from lam_jax.models.policy_nets import ActionDecoder, Actor
from lam_jax.models.torch_mapping import chw_to_hwc, convert, load, params_of

FIXTURES = Path(__file__).parent / "fixtures" / "reference"
META = json.loads((FIXTURES / "reference.json").read_text())
SIZES = META["sizes"]
RTOL = 1e-5
GRAD_RTOL = 1e-4
ULPS = 4
UPDATE_RTOL = 1e-4  # our optimiser fed the reference's gradients
TRAINED_RTOL = 1e-2  # our whole training step (our own gradients)
AUG_ATOL = 1e-4
KEY = jax.random.PRNGKey(0)  # augmentation is off in the fixtures, so the loss does not use it
REPORT: dict = {}


@pytest.fixture(scope="module", autouse=True)
def _print_report():
    yield
    if REPORT:
        width = max(map(len, REPORT))
        print("\nlargest differences from the reference (per quantity):")
        for name, (value, unit) in sorted(REPORT.items()):
            print(f"  {name:<{width}}  {value:.2e} {unit}")


def _note(name, value, unit="rel"):
    old = REPORT.get(name, (0.0, unit))[0]
    REPORT[name] = (max(old, float(value)), unit)


def rel_err(ours, ref) -> float:
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    return float(np.max(np.abs(ours - ref)) / max(np.max(np.abs(ref)), 1e-30))


def check(label, ours, ref, rtol=RTOL, quantity=None):
    err = rel_err(ours, ref)
    _note(quantity or label.split(":")[0], err)
    assert err <= rtol, f"{label}: max|ours - ref| / max|ref| = {err:.3e} > {rtol:.0e}"


def check_update(label, before, ours, ref, quantity, rtol):
    """``ours`` and ``ref`` after an update of ``before``: every element within ULPS units in the last
    place of the float32 parameter plus ``rtol`` of the tensor's largest update."""
    before, ours, ref = (np.asarray(x, np.float64) for x in (before, ours, ref))
    err = np.abs(ours - ref)
    scale = float(np.max(np.abs(ref - before)))
    if scale == 0.0:  # the reference left it unchanged (learning rate 0): so must we, bit for bit
        assert not np.any(ours - before), f"{label}: the reference left it unchanged, ours moved it"
        return
    ulp = np.spacing(np.maximum(np.abs(ref), np.abs(before)).astype(np.float32)).astype(np.float64)
    _note(f"{quantity} (ULPs)", np.max(err / ulp), "ulp")
    _note(f"{quantity} (beyond 1 ULP, of the update)", np.max(np.maximum(err - ulp, 0.0)) / scale)
    excess = float(np.max(err - ULPS * ulp - rtol * scale))
    assert excess <= 0.0, (
        f"{label}: {np.max(err / ulp):.0f} ULPs, {np.max(err) / scale:.2e} of the largest update "
        f"({scale:.2e}) from the reference"
    )


# -- fixtures -----------------------------------------------------------------------------------------
def load_npz(name: str) -> dict:
    with np.load(FIXTURES / f"{name}.npz") as data:
        return {k: data[k] for k in data.files}


def group(fx: dict, name: str) -> dict:
    prefix = name + "/"
    return {k[len(prefix) :]: v for k, v in fx.items() if k.startswith(prefix)}


def second_batch(batch: dict) -> dict:
    """As tools/make_reference_fixtures.py: reversed along the batch axis, images mirrored left-right."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, dict):
            out[key] = second_batch(value)
        else:
            value = np.asarray(value)
            out[key] = jnp.asarray(value[::-1, :, ::-1] if value.ndim == 4 else value[::-1])
    return out


def inputs(fx: dict) -> dict:
    raw = group(fx, "inputs")
    batch = {k: jnp.asarray(v) for k, v in raw.items() if "/" not in k}
    labeled = {k.split("/", 1)[1]: jnp.asarray(v) for k, v in raw.items() if k.startswith("labeled/")}
    if labeled:
        batch["labeled"] = labeled
    return batch


def parameters_after(fx: dict, step: int) -> dict:
    """Reference parameters after update ``step``; the fixtures store only what changed."""
    params = dict(group(fx, "weights"))
    for s in range(step + 1):
        params.update(group(fx, f"after{s}"))
    return params


def flat(state) -> dict:
    return {
        path: np.asarray(var[...] if hasattr(var, "__getitem__") else var) for path, var in nnx.to_flat_state(state)
    }


def ours_params(module) -> dict:
    return {path: np.asarray(var[...]) for path, var in params_of(module).items()}


def compare_tree(label, kind, ours: dict, ref: dict, feature_shape, rtol, quantity):
    """Every reference array (torch names, torch layout) against ours (NNX paths)."""
    assert ref, f"{label}: nothing to compare"
    for name, value in ref.items():
        path, expected = convert(kind, name, value, feature_shape)
        assert path in ours, f"{label}: ours has no {path} (reference {name})"
        check(f"{label}: {name}", ours[path], expected, rtol, quantity)


def compare_update(label, kind, before: dict, ours: dict, ref: dict, feature_shape, quantity, rtol=TRAINED_RTOL):
    for name, value in ref.items():
        path, expected = convert(kind, name, value, feature_shape)
        _, start = convert(kind, name, before[name], feature_shape)
        q = quantity.replace("params", "EMA target") if name.startswith("target.") else quantity
        check_update(f"{label}: {name}", start, ours[path], expected, q, rtol)


# -- LAM methods ----------------------------------------------------------------------------------------
def small_lam_config(module, meta):
    c = module.get_config("paper")
    m = c.model
    m.encoder_channels, m.encoder_scale = tuple(SIZES["channels"]), 1.0
    m.encoder_num_res_blocks = SIZES["num_res_blocks"]
    m.latent_dim, m.act_head_dim, m.obs_head_dim = SIZES["latent_dim"], SIZES["act_head_dim"], SIZES["obs_head_dim"]
    m.augment, m.dtype, m.encoder_norm_out = False, "float32", False
    m.ema_tau, m.target_update_every = meta.get("target_tau", m.ema_tau), meta.get("target_update_every", 1)
    if "labeled_loss_coef" in meta:
        m.labeled_loss_coef = meta["labeled_loss_coef"]
    c.learning_rate, c.weight_decay, c.grad_clip, c.probe_learning_rate = (
        meta["learning_rate"],
        meta["weight_decay"],
        0.0,
        0.0,
    )
    c.batch_size = c.labeled_batch_size = SIZES["batch_size"]
    return c


LAMS = {  # fixture -> (config module, torch_mapping kind)
    "laom": (laom_config, "laom"),
    "laom_labels": (laom_labels_config, "laom_labels"),
    "lapo": (lapo_config, "lapo"),
    "idm": (idm_config, "idm"),
}
# our metric name -> the fixture's loss term
LOSS_TERMS = {
    "laom": {
        "fdm_loss": "fdm",
        "probe/embedding_state_mse": "state_probe",
        "probe/latent_action_mse": "act_linear_probe",
        "probe/embedding_action_mse": "state_act_linear_probe",
    },
    "lapo": {"fdm_loss": "fdm", "probe/latent_action_mse": "linear_probe"},
    "idm": {"action_mse": "action", "probe/embedding_state_mse": "state_probe"},
}
LOSS_TERMS["laom_labels"] = {**LOSS_TERMS["laom"], "labeled_action_mse": "labeled_action"}
MODEL_LOSS = {
    "laom": "total",
    "laom_labels": "total",
    "lapo": "fdm",
    "idm": "action",
}  # what the model optimiser minimises


def build_lam(name, dtype="float32"):
    module, kind = LAMS[name]
    fx, meta = load_npz(name), META["fixtures"][name]
    cfg = small_lam_config(module, meta)
    cfg.model.dtype = dtype
    model = lams.make_model(
        cfg.model,
        image_size=SIZES["image_size"],
        frame_stack=SIZES["frame_stack"],
        action_dim=SIZES["action_dim"],
        state_dim=SIZES["state_dim"],
    )
    shape = nets.feature_shape(SIZES["image_size"], lams.channels(cfg.model))
    assert [shape[2], shape[0], shape[1]] == meta["feature_shape_chw"]
    load(model, kind, group(fx, "weights"), shape)
    return model, cfg, fx, meta, kind, shape


def lam_forward(name, model, batch):
    """Our forward outputs under the fixture's names (flattened maps in our (H, W, C) order)."""
    obs, future = nets.to_unit_range(batch["obs"]), nets.to_unit_range(batch["future"])
    if name == "lapo":
        z = model._latent(obs, future)
        feat = model.fdm_encoder(obs)
        act = model.act_proj(z).reshape((-1,) + model.feature_shape)
        pred = model.decoder(jnp.concatenate([feat, act], -1))
        return {"latent_action": z, "pred_next_obs": pred[:2]}
    if name == "idm":
        pred, e_obs = model._predict(obs, future)
        return {"pred_action": pred, "obs_emb": e_obs}
    z, e_obs = model._latent(obs, future)
    out = {
        "latent_action": z,
        "obs_hidden": e_obs,
        "latent_next_obs": model.fdm_head(jnp.concatenate([e_obs, z], -1), z),
        "next_obs_target": model._embed(nets.to_unit_range(batch["next"]), model.target_encoder),
    }
    if name == "laom_labels":
        lab = batch["labeled"]
        z_lab, _ = model._latent(nets.to_unit_range(lab["obs"]), nets.to_unit_range(lab["future"]))
        out["labeled_pred_action"] = model.true_action_head(z_lab)
    return out


def reference_output(name, key, value, shape):
    """A fixture output in our layout: NCHW images -> NHWC, (C, H, W)-flattened maps -> (H, W, C)."""
    if value.ndim == 4:
        return np.transpose(value, (0, 2, 3, 1))
    if key in ("obs_hidden", "latent_next_obs", "next_obs_target", "obs_emb"):
        return chw_to_hwc(value, shape)
    return value


@pytest.mark.parametrize("name", sorted(LAMS))
def test_lam_forward_and_losses(name):
    model, _, fx, _, _, shape = build_lam(name)
    batch = inputs(fx)
    outputs = lam_forward(name, model, batch)
    expected = group(fx, "outputs")
    assert set(outputs) == set(expected)
    for key, value in expected.items():
        check(
            f"{name} forward: {key}",
            outputs[key],
            reference_output(name, key, value, shape),
            quantity=f"{name} forward",
        )
    total, metrics = model.loss(batch, KEY)
    check_losses(f"{name} loss0", name, dict(metrics, loss=total), group(fx, "loss0"))


def rms_rel(x, ref) -> float:
    x, ref = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    return float(np.linalg.norm(x - ref) / np.linalg.norm(ref))


BF16_RATIO = 1.5  # our bf16 outputs at most this many times further from float32 than autocast's


@pytest.mark.parametrize("name", ["laom", "lapo"])
def test_bf16_path_as_close_to_float32_as_autocast(name):
    """Our bfloat16 compute against the reference's torch.autocast(bfloat16) (CPU), each measured from
    the reference's float32 outputs on the same weights and batch (relative RMS difference)."""
    model, _, fx, _, _, shape = build_lam(name, "bfloat16")
    ours = lam_forward(name, model, inputs(fx))
    fp32, bf16 = group(fx, "outputs"), group(fx, "outputs_bf16")
    for key in bf16:
        exact = reference_output(name, key, fp32[key], shape)
        ref_dist = rms_rel(reference_output(name, key, bf16[key].reshape(fp32[key].shape), shape), exact)
        our_dist = rms_rel(ours[key], exact)
        _note(f"{name} bf16 {key}: ours/autocast distance from fp32", our_dist / ref_dist, "x")
        _note(f"{name} bf16 {key}: ours from fp32 (rms rel)", our_dist)
        _note(f"{name} bf16 {key}: autocast from fp32 (rms rel)", ref_dist)
        assert 0 < our_dist <= BF16_RATIO * ref_dist, (
            f"{name} {key}: ours {our_dist:.2e} from float32, autocast {ref_dist:.2e}"
        )


def check_losses(label, name, metrics, ref):
    for ours_name, ref_name in LOSS_TERMS[name].items():
        check(f"{label}: {ref_name}", metrics[ours_name], ref[ref_name], quantity=f"{name} loss")
    # our total adds the probes' losses (their gradients reach only the probes); the rest must be the
    # reference's total, coefficients included
    probes = sum(v for k, v in metrics.items() if k.startswith("probe/"))
    check(f"{label}: total", metrics["loss"] - probes, ref[MODEL_LOSS[name]], quantity=f"{name} loss")


@pytest.mark.parametrize("name", sorted(LAMS))
def test_lam_gradients(name):
    model, _, fx, _, kind, shape = build_lam(name)
    (_, _), grads = nnx.value_and_grad(
        lambda m: m.loss(inputs(fx), KEY), has_aux=True, argnums=nnx.DiffState(0, train_lam.trainable(model))
    )(model)
    ours = flat(grads)
    ref = group(fx, "grads0")
    compare_tree(f"{name} grads", kind, ours, ref, shape, GRAD_RTOL, f"{name} grads")
    # every trainable parameter has a reference gradient (no parameter left out of the comparison)
    mapped = {convert(kind, n, v, shape)[0] for n, v in ref.items()}
    assert set(ours) == mapped


@pytest.mark.parametrize("name", sorted(LAMS))
def test_lam_training_updates(name):
    """Two of our jitted training updates (train_lam._update: Adam under the warm-up schedule, the
    probes' own Adam, LAOM's EMA target) against the reference's first two iterations."""
    model, cfg, fx, meta, kind, shape = build_lam(name)
    warmup, total = meta["warmup_updates"], meta["total_updates"]
    tx = train_lam.make_optimizer(cfg, total, warmup)
    graphdef, state = nnx.split((model, nnx.Optimizer(model, tx, wrt=train_lam.trainable(model))))
    spec = train_lam.StepStatics(
        graphdef,
        None,
        (SIZES["batch_size"],),
        SIZES["frame_stack"],
        cfg.max_offset,
        float(cfg.model.ema_tau),
        int(cfg.model.target_update_every),
        float(cfg.learning_rate),
        warmup,
        total,
    )
    health = jnp.asarray(-1, jnp.int32)
    batch = inputs(fx)
    lrs = group(fx, "lr")
    for step, b in enumerate((batch, second_batch(batch))):
        before = parameters_after(fx, step - 1)
        state, health, metrics = train_lam.jit_update(spec, state, health, b, KEY, jnp.asarray(step, jnp.int32))
        check_losses(f"{name} loss{step}", name, metrics, group(fx, f"loss{step}"))  # before this update
        ref_lr = float(lrs[f"model{step}"])
        if ref_lr == 0.0:  # the first warm-up update
            assert float(metrics["learning_rate"]) == 0.0
        else:
            check(f"{name} lr{step}", metrics["learning_rate"], ref_lr, quantity="learning rate")
        current = ours_params(nnx.merge(graphdef, state)[0])
        compare_update(
            f"{name} after update {step}",
            kind,
            before,
            current,
            parameters_after(fx, step),
            shape,
            f"{name} params after update",
        )
    assert int(health) == -1


def reference_gradients(module, kind, grads: dict, feature_shape, wrt):
    """The reference's gradients as an NNX gradient State: the gradient of sum(param * g_ref)."""
    by_path = dict(convert(kind, n, v, feature_shape) for n, v in grads.items())

    def surrogate(m):
        params = params_of(m)
        return sum(jnp.sum(params[path][...] * jnp.asarray(g)) for path, g in by_path.items())

    return nnx.grad(surrogate, argnums=nnx.DiffState(0, wrt))(module)


@pytest.mark.parametrize("name", sorted(LAMS) + ["bc", "decoder"])
def test_optimizer_step_on_reference_gradients(name):
    """Our optimiser (make_optimizer's Adam under the schedule and the probes' own Adam; optim.adam
    downstream) fed the reference's gradients of both iterations gives its parameters after each
    update (the second update is where Adam's b1, b2 and the warm-up's first non-zero rate show)."""
    if name in LAMS:
        model, cfg, fx, meta, kind, shape = build_lam(name)
        tx, wrt = (
            train_lam.make_optimizer(cfg, meta["total_updates"], meta["warmup_updates"]),
            train_lam.trainable(model),
        )
    else:
        fx, meta, shape = load_npz(name), META["fixtures"][name], None
        if name == "bc":
            model, kind = build_actor(fx), "actor"
        else:
            model, kind = (
                ActionDecoder(SIZES["latent_dim"], SIZES["action_dim"], SIZES["decoder_hidden_dim"], rngs=nnx.Rngs(1)),
                "action_decoder",
            )
            load(model, kind, group(fx, "weights"))
        tx, wrt = optim.adam(meta["learning_rate"], meta["warmup_updates"], meta["total_updates"]), nnx.Param
    opt = nnx.Optimizer(model, tx, wrt=wrt)
    for step in range(2):
        opt.update(model, reference_gradients(model, kind, group(fx, f"grads{step}"), shape, wrt))
        after = {n: v for n, v in parameters_after(fx, step).items() if not n.startswith("target.")}
        compare_update(
            f"{name} optimiser step {step}",
            kind,
            parameters_after(fx, step - 1),
            ours_params(model),
            after,
            shape,
            "optimiser on reference gradients",
            UPDATE_RTOL,
        )


# -- downstream -------------------------------------------------------------------------------------------
def reference_laom():
    model, *_ = build_lam("laom")
    return model


def build_actor(fx):
    actor = Actor(
        SIZES["frame_stack"],
        SIZES["latent_dim"],
        encoder_scale=SIZES["channels"][0] / 16,
        num_res_blocks=SIZES["num_res_blocks"],
        rngs=nnx.Rngs(0),
    )
    load(actor, "actor", group(fx, "weights"))
    return actor


def regression_steps(module, x_fn, y_fn, batches, lr, warmup, total):
    """The step of lam_jax.training.supervised.fit: MSE of module(x) against y, Adam under the schedule."""
    opt = nnx.Optimizer(module, optim.adam(lr, warmup, total), wrt=nnx.Param)
    results = []
    for b in batches:
        x, y = x_fn(b), jax.lax.stop_gradient(y_fn(b)).astype(jnp.float32)
        loss, grads = nnx.value_and_grad(lambda m, x=x, y=y: jnp.mean(jnp.square(m(x).astype(jnp.float32) - y)))(module)
        opt.update(module, grads)
        results.append((loss, flat(grads), ours_params(module)))
    return results


def check_regression_steps(name, kind, fx, results):
    """Loss of each step, gradients of the first, parameters after each, against the fixture."""
    for step, (loss, grads, params) in enumerate(results):
        check(f"{name} loss{step}", loss, group(fx, f"loss{step}")[name], quantity=f"{name} loss")
        if step == 0:
            compare_tree(f"{name} grads", kind, grads, group(fx, "grads0"), None, GRAD_RTOL, f"{name} grads")
        compare_update(
            f"{name} after update {step}",
            kind,
            parameters_after(fx, step - 1),
            params,
            parameters_after(fx, step),
            None,
            f"{name} params after update",
        )


def test_bc_actor():
    fx, meta = load_npz("bc"), META["fixtures"]["bc"]
    lam, actor = reference_laom(), build_actor(fx)
    batch = inputs(fx)
    out = group(fx, "outputs")
    check(
        "bc forward: target_actions",
        lam.latent_action(batch["obs"], batch["next"]),
        out["target_actions"],
        quantity="bc forward",
    )
    check("bc forward: pred_actions", actor(batch["obs"]), out["pred_actions"], quantity="bc forward")
    check("bc forward: obs_emb", actor.features(batch["obs"]), out["obs_emb"], quantity="bc forward")
    batches = (batch, second_batch(batch))
    results = regression_steps(
        actor,
        lambda b: b["obs"],
        lambda b: lam.latent_action(b["obs"], b["next"]),
        batches,
        meta["learning_rate"],
        meta["warmup_updates"],
        meta["total_updates"],
    )
    check_regression_steps("bc", "actor", fx, results)


def test_action_decoder():
    fx, meta = load_npz("decoder"), META["fixtures"]["decoder"]
    actor = build_actor(load_npz("bc"))
    decoder = ActionDecoder(SIZES["latent_dim"], SIZES["action_dim"], SIZES["decoder_hidden_dim"], rngs=nnx.Rngs(1))
    load(decoder, "action_decoder", group(fx, "weights"))
    batch = inputs(fx)
    out = group(fx, "outputs")
    check("decoder forward: latent_actions", actor(batch["obs"]), out["latent_actions"], quantity="decoder forward")
    check(
        "decoder forward: pred_actions", decoder(actor(batch["obs"])), out["pred_actions"], quantity="decoder forward"
    )
    results = regression_steps(
        decoder,
        lambda b: actor(b["obs"]),
        lambda b: b["action"],
        (batch, second_batch(batch)),
        meta["learning_rate"],
        meta["warmup_updates"],
        meta["total_updates"],
    )
    check_regression_steps("decoder", "action_decoder", fx, results)


# -- initialisation ------------------------------------------------------------------------------------------
def _orthogonal(kernel) -> bool:
    """Orthonormal columns or rows of the kernel as a matrix whose one side is its output axis, or its
    input axis for the transposed convs (torch's fan layout, ``nets.Upsample2x``)."""
    k = np.asarray(kernel, np.float64)
    for axis in (-1, 0):
        m = np.moveaxis(k, axis, -1).reshape(-1, k.shape[axis])
        gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
        if np.allclose(gram, np.eye(len(gram)), atol=1e-4):
            return True
    return False


def _torch_default(label, kernel, bias):
    """torch.nn.Linear's init: kernel and bias uniform in +-1/sqrt(fan_in)."""
    bound = 1.0 / np.sqrt(kernel.shape[0])
    for name, x in (("kernel", kernel), ("bias", bias)):
        x = np.asarray(x)
        assert np.max(np.abs(x)) <= bound and np.any(x), f"{label}.{name}: not uniform in +-{bound:.3g}"
    std, uniform = float(np.std(kernel)), bound / np.sqrt(3)
    assert abs(std / uniform - 1) < 0.1, f"{label}: kernel std {std:.3g}, uniform's {uniform:.3g}"


@pytest.mark.parametrize("name", sorted(LAMS))
def test_initialisation_as_the_reference(name):
    """The model's convs and linears orthogonal with zero bias (the reference's weight_init); its online
    probes, plain nn.Linear in the reference, at torch's default init."""
    module, _ = LAMS[name]
    cfg = small_lam_config(module, META["fixtures"][name])
    model = lams.make_model(cfg.model, image_size=SIZES["image_size"], frame_stack=SIZES["frame_stack"],
                            action_dim=SIZES["action_dim"], state_dim=SIZES["state_dim"])
    params = {"/".join(map(str, path)): v.get_value() for path, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}
    probes = sorted({k.rsplit("/", 1)[0] for k in params if k.startswith("probes/")})
    assert probes, "every LAM has online probes"
    for layer in probes:
        _torch_default(layer, params[layer + "/kernel"], params[layer + "/bias"])
    kernels = [k for k in params if k.endswith("kernel") and not k.startswith(("probes/", "target_encoder/"))]
    assert kernels
    for k in kernels:
        assert _orthogonal(params[k]), f"{name}: {k} is not orthogonal"
        bias = params.get(k[: -len("kernel")] + "bias")
        assert bias is None or not np.any(bias), f"{name}: {k}'s bias is not zero"


def test_action_decoder_initialisation_as_the_reference():
    decoder = ActionDecoder(SIZES["latent_dim"], SIZES["action_dim"], 256, rngs=nnx.Rngs(0))
    for layer in ("fc1", "fc2", "out"):
        linear = getattr(decoder, layer)
        _torch_default(layer, linear.kernel.get_value(), linear.bias.get_value())


# -- schedule and epochs -------------------------------------------------------------------------------------
def test_learning_rate_schedule():
    fx, meta = load_npz("schedule"), META["fixtures"]["schedule"]
    lrs = group(fx, "lr")
    for warmup, total in meta["schedules"]:
        schedule = optim.linear_warmup_decay(meta["peak"], warmup, total)
        ours = np.asarray([schedule(t) for t in range(total)])
        check(f"schedule {warmup}/{total}", ours, lrs[f"{warmup}_{total}"], quantity="schedule")
        if warmup:
            assert ours[0] == 0.0  # the first warm-up update does not move the parameters


def _epochs(fx, drop_last):
    return zip(group(fx, "epochs")["windows"], group(fx, "epochs")[f"len_drop_last_{drop_last}"])


@pytest.mark.parametrize("name", ["laom", "laom_labels", "lapo"])
def test_lam_epoch_length(name):
    fx, meta = load_npz("schedule"), META["fixtures"]["schedule"]
    script = {"laom": "train_laom.py", "laom_labels": "train_laom_labels.py", "lapo": "train_lapo.py"}[name]
    cfg = LAMS[name][0].get_config("paper")
    assert cfg.batch_size == meta["batch_size"]
    for windows, per_epoch in _epochs(fx, meta["drop_last"][script]):
        if per_epoch == 0:
            continue  # fewer windows than a batch: the reference trains nothing
        assert train_lam.resolve_schedule(cfg, int(windows)) == (
            cfg.num_epochs * per_epoch,
            round(cfg.warmup_epochs * per_epoch),
        ), windows


def test_bc_epoch_length():
    from configs import downstream
    from lam_jax.stages.downstream import steps

    fx, meta = load_npz("schedule"), META["fixtures"]["schedule"]
    bc = downstream.get_config("paper").bc
    assert bc.batch_size == meta["batch_size"]
    for windows, per_epoch in _epochs(fx, meta["drop_last"]["train_bc"]):
        if per_epoch == 0:
            continue
        source = ml_collections.ConfigDict(
            {"num_episodes": 1, "length": int(windows) + 1}
        )  # DCSInMemoryDataset: E*(T-1)
        assert steps(bc, source) == bc.num_epochs * per_epoch, windows


# -- FSQ ---------------------------------------------------------------------------------------------------
UNIFORM_LEVELS = [tuple(x) for x in META["fixtures"]["fsq"]["levels"] if len(set(x)) == 1]


@pytest.mark.parametrize("levels", UNIFORM_LEVELS, ids=lambda x: "_".join(map(str, x)))
def test_fsq(levels):
    data = group(load_npz("fsq"), "_".join(map(str, levels)))
    z = jnp.asarray(data["z"])
    codes, vjp = jax.vjp(lambda v: fsq(v, levels[0]), z)
    check(f"fsq {levels} codes", codes, data["codes"], quantity="fsq codes")
    check(f"fsq {levels} grad", vjp(jnp.asarray(data["cotangent"]))[0], data["grad"], GRAD_RTOL, quantity="fsq grad")


def test_fsq_per_dimension_levels_by_slices():
    """The reference's default (2, 2, 4) quantises each dimension with its own level count: the same
    formula per column."""
    data = group(load_npz("fsq"), "2_2_4")
    z = jnp.asarray(data["z"])
    def per_dim(v):
        return jnp.concatenate([fsq(v[..., i : i + 1], lv) for i, lv in enumerate((2, 2, 4))], -1)

    codes, vjp = jax.vjp(per_dim, z)
    check("fsq (2, 2, 4) codes", codes, data["codes"], quantity="fsq codes")
    check("fsq (2, 2, 4) grad", vjp(jnp.asarray(data["cotangent"]))[0], data["grad"], GRAD_RTOL, quantity="fsq grad")


def test_fsq_accepts_per_dimension_levels():
    data = group(load_npz("fsq"), "2_2_4")
    z = jnp.asarray(data["z"])
    codes, vjp = jax.vjp(lambda v: fsq(v, (2, 2, 4)), z)
    check("fsq (2, 2, 4) codes", codes, data["codes"], quantity="fsq codes")
    check("fsq (2, 2, 4) grad", vjp(jnp.asarray(data["cotangent"]))[0], data["grad"], GRAD_RTOL, quantity="fsq grad")


def test_adamw_decouples_weight_decay_as_torch():
    """torch.optim.AdamW's documented first step: p <- p - lr * wd * p - lr * g / (|g| + eps) for
    weights (>= 2-D under get_optim_groups), without the decay for biases."""
    from lam_jax.training import optim

    lr, wd = 1e-2, 0.1
    params = {"w": jnp.asarray([[1.0, -2.0], [0.5, 3.0]]), "b": jnp.asarray([1.0, -1.0])}
    grads = {"w": jnp.asarray([[0.1, -0.2], [0.0, 0.3]]), "b": jnp.asarray([0.5, 0.5])}
    tx = optim.adam(lr, 0, 10, weight_decay=wd, decoupled=True)
    updates, _ = tx.update(grads, tx.init(params), params)
    for k in params:
        decay = wd if params[k].ndim >= 2 else 0.0
        expected = -lr * decay * params[k] - lr * grads[k] / (jnp.abs(grads[k]) + 1e-8)
        np.testing.assert_allclose(updates[k], expected, rtol=1e-5, atol=1e-9)  # optax: float32 bias corrections
    adam = optim.adam(lr, 0, 10, weight_decay=wd)
    coupled, _ = adam.update(grads, adam.init(params), params)
    assert not np.allclose(coupled["w"], updates["w"])  # Adam's L2 goes through the moments instead


# -- augmentation ---------------------------------------------------------------------------------------------
def replayed_params(fx, meta):
    """Our augment.apply parameters from the reference's recorded draws."""
    draws = group(fx, "draws")
    size, spec = meta["image_size"], augment.reference_settings(meta["image_size"])
    assert (spec.shift_pad, spec.rotate_pad, spec.perspective_pad) == (
        meta["shift_pad"],
        meta["rotate_pad"],
        meta["perspective_pad"],
    )
    side = size + 2 * spec.perspective_pad
    maps, pads = [], []
    for b, pipeline in enumerate(draws["pipeline"]):
        stage_maps, stage_pads = [], []
        for stage, op in enumerate(augment.PIPELINES[int(pipeline)]):
            if op == augment.SHIFT:
                dx, dy = draws["shift"][b, stage].astype(np.float32)
                stage_maps.append(augment._translate(jnp.float32(dx), jnp.float32(dy)))
                stage_pads.append(augment._NO_FILL)
            elif op == augment.ROTATE:
                # torchvision turns counter-clockwise on screen; our angle turns the other way
                angle = -jnp.float32(draws["angle"][pipeline, stage])
                stage_maps.append(augment._rotation_maps(angle, size))
                stage_pads.append(float(spec.rotate_pad))
            elif op == augment.PERSPECTIVE:
                end = jnp.asarray(draws["corners"][pipeline, stage], jnp.float32)
                stage_maps.append(augment.perspective_map(end, side, spec.perspective_pad))
                stage_pads.append(float(spec.perspective_pad))
            else:
                stage_maps.append(jnp.eye(3))
                stage_pads.append(augment._NO_FILL)
        maps.append(jnp.stack(stage_maps))
        pads.append(stage_pads)
    return {"maps": jnp.stack(maps), "pad": jnp.asarray(pads, jnp.float32)}


@pytest.mark.parametrize("pipeline", META["fixtures"]["augment"]["pipelines"])  # the reference's 8, in its order
def test_augmentation_replay(pipeline):
    fx, meta = load_npz("augment"), META["fixtures"]["augment"]
    index = meta["pipelines"].index(pipeline)
    chosen = np.flatnonzero(group(fx, "draws")["pipeline"] == index)
    assert chosen.size, "the fixture draws every pipeline at least once"
    images = nets.to_unit_range(jnp.asarray(group(fx, "inputs")["images"]))
    ours = np.asarray(augment.apply(images, replayed_params(fx, meta)))[chosen]
    ref = group(fx, "outputs")["augmented"][chosen]
    err = float(np.max(np.abs(ours - ref)))
    _note(f"augment {pipeline} (abs)", err, "abs")
    assert err <= AUG_ATOL, f"{pipeline}: max|ours - ref| = {err:.3e}"
