import jax
import numpy as np
import pytest

from lam_jax import sampling, sharding
from lam_jax.data import Episodes


def _indexed_episodes(num_eps=6, length=7, size=4):
    """Frame (e, t) is filled with the value 10 * e + t, so windows reveal their indices."""
    frames = (10 * np.arange(num_eps)[:, None] + np.arange(length)[None]).astype(np.uint8)
    frames = np.broadcast_to(frames[:, :, None, None, None], (num_eps, length, size, size, 3)).copy()
    actions = np.stack([frames[:, :, 0, 0, 0].astype(np.float32)] * 2, -1)
    states = -actions[..., :1]
    return Episodes(frames, actions, states)


def _expected_stack(eps, e, t_end, s):
    idx = [max(t_end - i, 0) for i in range(s - 1, -1, -1)]  # first-frame padding
    return np.concatenate([eps.frames[e, i] for i in idx], -1)


def test_device_sampler_windows_match_indices():
    assert jax.device_count() >= 4
    eps = _indexed_episodes()
    mesh = sharding.make_mesh(4)
    data = sampling.shard_episodes(eps, mesh)
    assert data["frames"].sharding.spec[0] == sharding.DATA_AXIS
    assert data["frames"].shape[0] == 8  # 6 episodes repeated up to a multiple of 4 devices
    sample = jax.jit(sampling.make_device_sampler(mesh, batch_size=64, frame_stack=3, max_offset=3))
    standardised = sampling.standardised_states(eps)
    assert abs(standardised.mean()) < 1e-5 and abs(standardised.std() - 1) < 1e-3
    batch = jax.device_get(sample(data, jax.random.PRNGKey(0)))
    padded_t = 0
    for i in range(64):
        e = int(batch["episode"][i]) % eps.num_episodes
        t, k = int(batch["t"][i]), int(batch["k"][i])
        assert 1 <= k <= 3 and t + k <= eps.length - 1
        np.testing.assert_array_equal(batch["obs"][i], _expected_stack(eps, e, t, 3))
        np.testing.assert_array_equal(batch["next"][i], _expected_stack(eps, e, t + 1, 3))
        np.testing.assert_array_equal(batch["future"][i], _expected_stack(eps, e, t + k, 3))
        np.testing.assert_array_equal(batch["action"][i], eps.actions[e, t])
        np.testing.assert_allclose(batch["state"][i], standardised[e, t], rtol=1e-6)
        padded_t += t < 2
    assert padded_t > 0  # the padding branch was exercised
    assert len({int(x) for x in batch["episode"]}) > 4  # every device contributed its own episodes


def test_host_sampler_matches_the_same_window_definition():
    eps = _indexed_episodes()
    sampler = sampling.HostSampler(eps, sharding.make_mesh(2), 16, 3, 2)
    batch = jax.device_get(sampler.sample(step=7))
    np.testing.assert_array_equal(jax.device_get(sampler.sample(step=7))["t"], batch["t"])  # resumable
    assert not np.array_equal(jax.device_get(sampler.sample(step=8))["obs"], batch["obs"])
    for i in range(16):
        e, t, k = int(batch["episode"][i]), int(batch["t"][i]), int(batch["k"][i])
        np.testing.assert_array_equal(batch["obs"][i], _expected_stack(eps, e, t, 3))
        np.testing.assert_array_equal(batch["future"][i], _expected_stack(eps, e, t + k, 3))


def test_batch_must_divide_over_devices():
    with pytest.raises(ValueError, match="divisible"):
        sampling.make_device_sampler(sharding.make_mesh(4), batch_size=6, frame_stack=3, max_offset=1)


def test_bad_episode_arrays_are_rejected():
    eps = _indexed_episodes()
    with pytest.raises(ValueError, match="uint8"):
        Episodes(eps.frames.astype(np.float32), eps.actions, eps.states)
    with pytest.raises(ValueError, match="must match"):
        Episodes(eps.frames, eps.actions[:, :-1], eps.states)
