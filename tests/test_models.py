import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import idm, laom, laom_labels, lapo
from lam_jax import augment, models
from lam_jax.fsq import fsq

CONFIGS = {"lapo": lapo, "laom": laom, "laom_labels": laom_labels, "idm": idm}


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
def test_models_give_finite_losses_and_latents(method):
    cfg = CONFIGS[method].get_config("smoke")
    model = models.make_model(cfg.model, image_size=32, frame_stack=3, action_dim=2, state_dim=3)
    batch = _batch()
    loss, metrics = model.loss(batch, jax.random.PRNGKey(0))
    assert np.isfinite(float(loss)) and all(np.isfinite(float(v)) for v in metrics.values())
    assert "probe/action_mse" in metrics and "probe/state_mse" in metrics
    z = model.latent_action(batch["obs"], batch["future"])
    expected = 2 if method == "idm" else cfg.model.latent_dim
    assert z.shape == (4, expected)
    assert model.embed(batch["obs"]).ndim == 2


def test_fsq_rounds_to_levels_with_straight_through_gradient():
    z = jnp.linspace(-3, 3, 11)
    q = fsq(z, 5)
    assert set(np.round(np.asarray(q) * 2).tolist()) <= {-2.0, -1.0, 0.0, 1.0, 2.0}
    grad = jax.grad(lambda x: fsq(x, 5).sum())(z)
    assert np.all(np.asarray(grad) > 0)


def test_lapo_with_fsq_quantises_latents():
    cfg = lapo.get_config("smoke,fsq_levels=5")
    model = models.make_model(cfg.model, image_size=32, frame_stack=3, action_dim=2, state_dim=3)
    batch = _batch(labeled=False)
    z = np.asarray(model.latent_action(batch["obs"], batch["future"]))
    np.testing.assert_allclose(z * 2, np.round(z * 2), atol=1e-5)


def test_augmentations_identity_and_change():
    images = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (8, 32, 32, 9)), jnp.float32)
    ident = augment.warp(images, augment.random_homographies(jax.random.PRNGKey(0), 8, combo=jnp.zeros(8, jnp.int32)))
    np.testing.assert_allclose(ident, images, atol=1e-4)
    for combo in range(1, augment.NUM_COMBINATIONS):
        out = augment.warp(images, augment.random_homographies(
            jax.random.PRNGKey(combo), 8, combo=jnp.full(8, combo, jnp.int32)))
        assert float(jnp.abs(out - images).mean()) > 0.01, combo
    # One draw per image: different images in a batch get different transforms.
    out = augment.augment(jax.random.PRNGKey(1), jnp.repeat(images[:1], 8, 0))
    assert len({round(float(jnp.abs(o - images[0]).mean()), 5) for o in out}) > 3


def test_unknown_model_is_rejected():
    cfg = lapo.get_config("smoke")
    cfg.model.name = "vqvae"
    with pytest.raises(ValueError, match="unknown model"):
        models.make_model(cfg.model, image_size=32, frame_stack=3, action_dim=2, state_dim=3)


def test_unknown_config_key_is_rejected():
    with pytest.raises(KeyError, match="unknown config key"):
        laom.get_config("smoke,learning_rat=3")
    with pytest.raises(ValueError, match="unknown variant"):
        laom.get_config("huge")


def test_laom_augmentation_modes():
    batch = _batch(labeled=False)
    same = batch["obs"]
    for mode, expect_equal in (("shared", True), ("independent", False)):
        cfg = laom.get_config(f"smoke,augment={mode}")
        model = models.make_model(cfg.model, image_size=32, frame_stack=3, action_dim=2, state_dim=3)
        a, b, target = model._augmented_views(jax.random.PRNGKey(0), same, same, same, clean_target=True)
        assert bool(jnp.all(a == b)) == expect_equal, mode
        assert bool(jnp.all(target == same)) == (not expect_equal), mode
        assert not bool(jnp.all(a == same))  # something was augmented
    cfg = laom.get_config("smoke,augment=sideways")
    model = models.make_model(cfg.model, image_size=32, frame_stack=3, action_dim=2, state_dim=3)
    with pytest.raises(ValueError, match="model.augment"):
        model.loss(batch, jax.random.PRNGKey(0))
