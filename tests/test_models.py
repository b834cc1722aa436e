import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import common, downstream, idm, laom, laom_labels, lapo
from lam_jax.models import augment, describe, heads, lams, nets
from lam_jax.models.fsq import fsq

CONFIGS = {"lapo": lapo, "laom": laom, "laom_labels": laom_labels, "idm": idm}
# sum(p.numel() for p in model.parameters()) of the reference's torch models (dunnolab/laom src/nn.py)
# built from its configs/*.yaml for 64 px cheetah-run (6 actions): measured, not derived.
REFERENCE_PARAMS = {"lapo": 211_847_849, "laom": 192_307_136, "laom_labels": 192_356_294, "idm": 192_243_590}
REFERENCE_ACTOR_PARAMS = 107_541_504  # Actor(encoder_scale=32, 2 res blocks) -> 8192


def _batch(b=4, size=32, s=3, action_dim=2, state_dim=3, labeled=True):
    rng = np.random.default_rng(0)
    frames = lambda: jnp.asarray(rng.integers(0, 255, (b, size, size, 3 * s), dtype=np.uint8))  # noqa: E731
    batch = {"obs": frames(), "next": frames(), "future": frames(),
             "action": jnp.asarray(rng.uniform(-1, 1, (b, action_dim)), jnp.float32),
             "state": jnp.asarray(rng.normal(size=(b, state_dim)), jnp.float32)}
    if labeled:
        batch["labeled"] = dict(batch)
    return batch


@pytest.mark.parametrize("method", sorted(CONFIGS))
def test_paper_parameter_counts_match_the_reference(method):
    model = describe.abstract_lam(CONFIGS[method].get_config("paper"), image_size=64, action_dim=6)
    assert lams.counted_params(model) == REFERENCE_PARAMS[method]
    leaves = jax.tree.leaves(nnx.state(model, nnx.Param))
    assert all(isinstance(x, jax.ShapeDtypeStruct) for x in leaves)  # nothing was allocated


def test_paper_actor_parameter_count_matches_the_reference():
    actor = describe.abstract_actor(downstream.get_config("paper"), latent_dim=8192)
    assert sum(n for *_, n, _ in describe.module_rows(actor)) == REFERENCE_ACTOR_PARAMS


@pytest.mark.parametrize("method", sorted(CONFIGS))
def test_models_give_finite_losses_and_latents(method):
    cfg = CONFIGS[method].get_config("smoke")
    model = lams.make_model(cfg.model, image_size=32, frame_stack=3, action_dim=2, state_dim=3)
    batch = _batch()
    loss, metrics = model.loss(batch, jax.random.PRNGKey(0))
    assert np.isfinite(float(loss)) and all(np.isfinite(float(v)) for v in metrics.values())
    z = model.latent_action(batch["obs"], batch["future"])
    assert z.shape == (4, 2 if method == "idm" else cfg.model.latent_dim)
    assert model.embed(batch["obs"]).ndim == 2
    if lams.predicts_actions(cfg.model):
        assert model.predict_action(batch["obs"], batch["next"]).shape == (4, 2)


def test_head_and_decoder_shapes():
    rngs, f32 = nnx.Rngs(0), jnp.float32
    act = heads.latent_act_head(48, 16, 7, dtype=f32, rngs=rngs)
    obs = heads.latent_obs_head(48, 16, 7, dtype=f32, rngs=rngs)
    e, z = jnp.ones((5, 48)), jnp.ones((5, 7))
    ee = jnp.concatenate([e, e], -1)
    assert act(ee, ee).shape == (5, 7)
    assert obs(jnp.concatenate([e, z], -1), z).shape == (5, 48)
    # The FDM head's later projections see [h, z] only; the IDM head's see [h, e_t, e_{t+k}].
    assert obs.projs[1].in_features == 16 + 7 and act.projs[1].in_features == 16 + 96
    enc = nets.Encoder(9, (8, 16, 16), 2, rngs=rngs)
    feat = enc(jnp.ones((2, 64, 64, 9)))
    assert feat.shape == (2, 8, 8, 16)
    dec = nets.Decoder(32, (8, 16, 16), 9, 2, rngs=rngs)
    img = dec(jnp.concatenate([feat, feat], -1))
    assert img.shape == (2, 64, 64, 9) and float(jnp.abs(img).max()) < 1
    lapo_model = lams.make_model(lapo.get_config("smoke").model, image_size=32, frame_stack=3, action_dim=2,
                                 state_dim=3)
    assert lapo_model.decoder.out.out_features == 9  # predicts the whole next frame stack


def test_encoder_has_no_final_activation():
    enc = nets.Encoder(3, (4, 8), 1, rngs=nnx.Rngs(0))
    out = enc(jax.random.normal(jax.random.PRNGKey(0), (4, 16, 16, 3)))
    assert float(out.min()) < 0  # no ReLU / ReLU6 at the end


def test_upsample_equals_torch_conv_transpose_2x2_stride_2():
    up = nets.Upsample2x(5, 3, dtype=jnp.float32, rngs=nnx.Rngs(0))
    up.bias[...] = up.bias[...] + 0.5
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (2, 4, 6, 5)))
    kernel, bias = np.asarray(up.kernel[...]), np.asarray(up.bias[...])
    expected = np.zeros((2, 8, 12, 3)) + bias  # torch: input pixel (h, w) adds x[h, w] @ W[:, :, i, j] at (2h+i, 2w+j)
    for h in range(4):
        for w in range(6):
            for i in range(2):
                for j in range(2):
                    expected[:, 2 * h + i, 2 * w + j] += x[:, h, w] @ kernel[:, i, j]
    np.testing.assert_allclose(up(jnp.asarray(x)), expected, rtol=1e-5, atol=1e-5)


def _impulse(size=64):
    img = np.zeros((1, size, size, 1), np.float32)
    img[0, 30, 20] = 1.0
    return jnp.asarray(img)


def test_augmentation_parameters_stay_within_the_reference_bounds():
    spec = augment.reference_settings(64)
    assert (spec.shift_pad, spec.rotate_pad, spec.perspective_pad, spec.max_degrees, spec.distortion) == \
        (14, 17, 30, 90.0, 0.5)
    p = augment.sample_params(jax.random.PRNGKey(0), 4096, 64, spec)
    shift, angle, corners = np.asarray(p["shift"]), np.asarray(p["angle"]), np.asarray(p["corners"])
    assert np.abs(shift).max() == 14 and shift.min() == -14  # +-14 px, both ends reached
    assert np.abs(angle).max() <= 90 and np.abs(angle).max() > 60
    side, d = 64 + 60, int(0.5 * (124 // 2))
    inward = np.stack([corners[..., 0, :], side - 1 - corners[..., 2, :]])  # top-left and bottom-right offsets
    assert inward.min() >= 0 and inward.max() <= d + 1
    counts = np.bincount(np.asarray(p["pipeline"]), minlength=8)
    assert counts.min() > 400  # each of the 8 pipelines is drawn uniformly


def test_shift_moves_pixels_by_whole_pixels_and_identity_is_exact():
    img = _impulse()
    spec = augment.reference_settings(64)
    p = augment.sample_params(jax.random.PRNGKey(3), 1, 64, spec)
    eye = jnp.broadcast_to(jnp.eye(3), (1, 3, 3))
    np.testing.assert_array_equal(augment.warp(img, eye, jnp.asarray([1e9])), img)
    dx, dy = 5, -3
    maps = jnp.asarray([[[1.0, 0, dx], [0, 1, dy], [0, 0, 1]]])
    out = np.asarray(augment.warp(img, maps, jnp.asarray([14.0])))
    assert out[0, 30 - dy, 20 - dx, 0] == 1.0 and out.sum() == 1.0
    del p


def test_rotation_and_perspective_are_shared_within_a_pipeline_per_call():
    spec = augment.reference_settings(64)
    images = jnp.repeat(jax.random.uniform(jax.random.PRNGKey(0), (1, 64, 64, 3), minval=-1, maxval=1), 64, 0)
    p = augment.sample_params(jax.random.PRNGKey(5), 64, 64, spec)
    out = np.asarray(augment.apply(images, p))
    pipe = np.asarray(p["pipeline"])
    for k in (2, 3, 6, 7):  # rotate, perspective, rotate-perspective, perspective-rotate: no per-image shift
        same = np.where(pipe == k)[0]
        if len(same) > 1:
            np.testing.assert_allclose(out[same[0]], out[same[1]], atol=1e-6)
    shifted = np.where(pipe == 1)[0]
    assert len({out[i].tobytes() for i in shifted}) > 1  # shifts are drawn per image
    assert np.abs(out[pipe == 0] - np.asarray(images[:1])).max() < 1e-6  # 'nothing' leaves the image
    # Independent calls draw independent pipelines.
    q = augment.sample_params(jax.random.PRNGKey(6), 64, 64, spec)
    assert (np.asarray(q["pipeline"]) != pipe).any()


def test_augmentation_keeps_shape_and_range():
    x = jax.random.uniform(jax.random.PRNGKey(0), (16, 32, 32, 9), minval=-1, maxval=1)
    y = augment.augment(jax.random.PRNGKey(1), x)
    assert y.shape == x.shape and float(jnp.abs(y).max()) <= 1.0 + 1e-6
    with pytest.raises(ValueError, match="square"):
        augment.augment(jax.random.PRNGKey(1), jnp.zeros((1, 8, 16, 3)))


@pytest.mark.parametrize("levels", [2, 3, 4, 5, 8])
def test_fsq_yields_exactly_levels_codes(levels):
    z = jnp.linspace(-6, 6, 20001)
    q = np.asarray(fsq(z, levels))
    assert len(np.unique(q)) == levels
    assert q.min() >= -1 and q.max() <= 1
    grad = jax.grad(lambda x: fsq(x, levels).sum())(jnp.linspace(-2, 2, 9))
    assert np.all(np.asarray(grad) > 0)  # straight-through


def test_lapo_with_fsq_quantises_latents():
    cfg = common.override(lapo.get_config("smoke"), ["model.fsq_levels=4"])
    model = lams.make_model(cfg.model, image_size=32, frame_stack=3, action_dim=2, state_dim=3)
    batch = _batch(labeled=False)
    z = np.asarray(model.latent_action(batch["obs"], batch["future"]))
    assert set(np.unique(z).tolist()) <= {-1.0, -0.5, 0.0, 0.5}


def test_laom_augments_each_view_independently_and_the_target_too():
    cfg = laom.get_config("smoke")
    model = lams.make_model(cfg.model, image_size=32, frame_stack=3, action_dim=2, state_dim=3)
    batch = _batch(labeled=False)
    seen = []
    original = model._embed

    def spy(x, encoder=None):
        seen.append(x)
        return original(x, encoder)

    model._embed = spy
    model.loss(batch, jax.random.PRNGKey(0))
    clean_next = nets.to_unit_range(batch["next"])
    assert len(seen) == 2 and not np.allclose(seen[1], clean_next)  # the EMA target sees an augmented o_{t+1}
    cfg = common.override(laom.get_config("smoke"), ["model.augment=false"])
    plain = lams.make_model(cfg.model, image_size=32, frame_stack=3, action_dim=2, state_dim=3)
    plain._embed = spy
    seen.clear()
    plain.loss(batch, jax.random.PRNGKey(0))
    np.testing.assert_allclose(seen[1], clean_next)


@pytest.mark.parametrize("views, same", [("independent", (False, False)), ("pair", (True, False)),
                                          ("shared", (True, True))])
def test_augment_views_share_one_transform_where_asked(views, same):
    """With one frame in all three places, views that share a key come out identical."""
    cfg = common.override(laom.get_config("smoke"), [f"model.augment_views={views}"])
    model = lams.make_model(cfg.model, image_size=32, frame_stack=3, action_dim=2, state_dim=3)
    batch = _batch(b=16, labeled=False)
    batch["future"] = batch["next"] = batch["obs"]
    _, obs, future, nxt = np.moveaxis(np.asarray(model.previews(batch, jax.random.PRNGKey(0))["laom/views"]), 1, 0)
    assert (np.allclose(obs, future), np.allclose(obs, nxt)) == same
    assert not np.allclose(obs, nets.to_unit_range(batch["obs"])[..., -3:])  # still augmented
    with pytest.raises(ValueError, match="augment_views"):
        lams.make_model(common.override(cfg, ["model.augment_views=each"]).model, image_size=32, frame_stack=3,
                        action_dim=2, state_dim=3)


def test_unknown_model_and_config_keys_are_rejected():
    cfg = lapo.get_config("smoke")
    cfg.model.name = "vqvae"
    with pytest.raises(ValueError, match="unknown model"):
        lams.make_model(cfg.model, image_size=32, frame_stack=3, action_dim=2, state_dim=3)
    with pytest.raises(KeyError, match="unknown config key"):
        common.override(laom.get_config("smoke"), ["learning_rat=3"])
    with pytest.raises(ValueError, match="unknown variant"):
        laom.get_config("huge")


def test_smaller_variants_keep_the_architecture_family():
    for method, module in CONFIGS.items():
        paper, small = module.get_config("paper"), module.get_config("small")
        for key in ("name", "encoder_channels", "encoder_norm_out", "augment", "fsq_levels"):
            assert paper.model[key] == small.model[key], (method, key)
        assert paper.max_offset == small.max_offset and paper.frame_stack == small.frame_stack


def test_mini_variant_keeps_the_papers_ratios():
    """The scale-down rule: latent 2/3 of the embedding, heads as wide as the latent, the EMA time
    constant and warm-up the paper's fractions of the run, the probes' and label head's lr budgets."""
    paper, mini = laom_labels.get_config("paper"), laom_labels.get_config("mini")
    small = laom_labels.get_config("small")
    assert (mini.model.encoder_scale, mini.batch_size, mini.num_steps) == (
        small.model.encoder_scale, small.batch_size, small.num_steps)  # the compute stays small's
    emb = (32 // 8) ** 2 * round(32 * mini.model.encoder_scale)
    assert mini.model.latent_dim == round(emb * 8192 / 12288) == 171
    assert mini.model.act_head_dim == mini.model.obs_head_dim == mini.model.latent_dim
    paper_updates = 10 * -(-5000 * 990 // 512)
    assert abs((1 / mini.model.ema_tau) / mini.num_steps - (1 / paper.model.ema_tau) / paper_updates) < 1e-4
    assert mini.warmup_steps / mini.num_steps == paper.warmup_epochs / paper.num_epochs
    budget = paper.learning_rate * paper_updates
    assert abs(mini.probe_learning_rate * mini.num_steps - budget) / budget < 0.01
    assert abs(mini.label_head_learning_rate * mini.num_steps - budget) / budget < 0.01
    assert lapo.get_config("mini").model.latent_dim == 171 and mini.model.augment_scale == 1.0


def test_augment_scale_shrinks_every_magnitude():
    ref = augment.reference_settings(32)
    half = augment.scaled(ref, 0.5)
    assert augment.scaled(ref, 1.0) is ref
    assert (half.shift_pad, half.rotate_pad, half.perspective_pad, half.max_degrees, half.distortion) == (
        round(ref.shift_pad / 2), round(ref.rotate_pad / 2), round(ref.perspective_pad / 2), 45.0, 0.25)
    p = augment.sample_params(jax.random.PRNGKey(0), 2048, 32, half)
    assert np.abs(np.asarray(p["shift"])).max() == half.shift_pad and np.abs(np.asarray(p["angle"])).max() <= 45
    img = jax.random.uniform(jax.random.PRNGKey(1), (8, 32, 32, 3), minval=-1, maxval=1)
    np.testing.assert_allclose(augment.augment(jax.random.PRNGKey(2), img, augment.scaled(ref, 0.0)), img, atol=1e-4)
    with pytest.raises(ValueError, match="augment_scale"):
        augment.scaled(ref, -1)


def test_the_rule_follows_the_compute():
    """The regime search's arms for other compute take their sizes and rates from the same rule."""
    from configs import regime_search
    as_dict = lambda items: dict(x.split("=") for x in items)  # noqa: E731
    wide, long, big = (as_dict(regime_search.rule(**kw)) for kw in (
        {"encoder_scale": 1.0}, {"num_steps": 10_000}, {"image_size": 64}))
    assert wide["model.latent_dim"] == wide["model.act_head_dim"] == "341"  # 2/3 of 4 x 4 x 32
    assert big["model.latent_dim"] == "683"  # 2/3 of 8 x 8 x 16
    assert (long["model.ema_tau"], long["warmup_steps"], long["probe_learning_rate"]) == ("0.0097", "3000", "0.00097")
    assert as_dict(regime_search.rule()) == {**as_dict(regime_search.rule()), "model.latent_dim": "171",
                                             "model.ema_tau": "0.0322"}
