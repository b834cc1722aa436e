import jax
import numpy as np
import pytest

from lam_jax.data import sampling, streaming
from lam_jax.devices import sharding
from lam_jax.data.episodes import Episodes


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


def _check_windows(eps, batch, frame_stack, max_offset):
    for i in range(len(batch["t"])):
        t, k = int(batch["t"][i]), int(batch["k"][i])
        e = int(batch["obs"][i, 0, 0, -1]) // 10  # the episode a window came from, read off its frame
        assert 1 <= k <= max_offset and 0 <= t <= eps.length - 1 - max_offset  # the reference's window range
        np.testing.assert_array_equal(batch["obs"][i], _expected_stack(eps, e, t, frame_stack))
        np.testing.assert_array_equal(batch["next"][i], _expected_stack(eps, e, t + 1, frame_stack))
        np.testing.assert_array_equal(batch["future"][i], _expected_stack(eps, e, t + k, frame_stack))
        np.testing.assert_array_equal(batch["action"][i], eps.actions[e, t])
        np.testing.assert_array_equal(batch["state"][i], eps.states[e, t])  # raw, as the reference


def test_device_sampler_windows_match_indices():
    assert jax.device_count() >= 4
    eps = _indexed_episodes()
    mesh = sharding.make_mesh(4)
    data = sampling.place_episodes(eps, mesh, chunk_episodes=3)
    assert data["frames"].sharding.spec[0] == sharding.DATA_AXIS
    assert data["frames"].shape[0] == 8  # 6 episodes repeated up to a multiple of 4 devices
    np.testing.assert_array_equal(np.asarray(data["frames"]), eps.frames[[0, 1, 2, 3, 4, 5, 0, 1]])
    sample = jax.jit(sampling.make_device_sampler(mesh, batch_size=64, frame_stack=3, max_offset=3))
    batch = jax.device_get(sample(data, jax.random.PRNGKey(0)))
    _check_windows(eps, batch, 3, 3)
    assert (batch["t"] < 2).any()  # the padding branch was exercised
    assert len({int(x) for x in batch["episode"]}) > 4  # every device contributed its own episodes


def test_streaming_sampler_draws_the_same_windows_and_resumes():
    eps = _indexed_episodes()
    sampler = streaming.BufferedSampler(eps, sharding.make_mesh(2), 16, 3, 2, seed=0, buffer_episodes=3,
                                        buffer_steps=4)
    batch = jax.device_get(sampler.sample(step=7))
    np.testing.assert_array_equal(jax.device_get(sampler.sample(step=7))["t"], batch["t"])  # a function of step
    assert not np.array_equal(jax.device_get(sampler.sample(step=8))["obs"], batch["obs"])
    _check_windows(eps, batch, 3, 2)
    in_block = {int(x) // 10 for s in range(4, 8) for x in jax.device_get(sampler.sample(s))["obs"][:, 0, 0, -1]}
    assert len(in_block) <= 3  # a block of steps samples from its buffer of 3 episodes
    sampler.close()


def test_batch_must_divide_over_devices():
    with pytest.raises(ValueError, match="divisible"):
        sampling.make_device_sampler(sharding.make_mesh(4), batch_size=6, frame_stack=3, max_offset=1)


def test_bad_episode_arrays_are_rejected():
    eps = _indexed_episodes()
    with pytest.raises(ValueError, match="uint8"):
        Episodes(eps.frames.astype(np.float32), eps.actions, eps.states)
    with pytest.raises(ValueError, match="must match"):
        Episodes(eps.frames, eps.actions[:, :-1], eps.states)
