import numpy as np
import pytest

from data_pipeline import backgrounds, dcs


def _frames(preset, seed, steps=5, split="train"):
    env = dcs.make_env(dcs.EnvConfig(preset=preset, split=split), seed)
    ts = env.reset()
    frames = [ts.observation["pixels"]]
    for _ in range(steps):
        ts = env.step(np.zeros(6))
        frames.append(ts.observation["pixels"])
    return np.stack(frames), dcs.current_video(env)


def test_presets_render_distinct_distractors():
    vanilla, video = _frames("vanilla", seed=0)
    assert vanilla.shape == (6, 64, 64, 3) and vanilla.dtype == np.uint8 and video == ""
    distracted = {p: _frames(p, seed=0) for p in ("easy", "medium", "scale_easy_video_hard")}
    for preset, (frames, video) in distracted.items():
        assert video in backgrounds.split_videos()["train"], preset
        assert np.abs(frames.astype(int) - vanilla).mean() > 15, preset  # background replaced
    # Dynamic distractors: the background video plays, so frames change even with a still agent.
    frames, _ = distracted["scale_easy_video_hard"]
    vanilla_motion = np.abs(np.diff(vanilla.astype(int), axis=0)).mean()
    assert np.abs(np.diff(frames.astype(int), axis=0)).mean() > 2 * vanilla_motion
    # Other seeds draw other videos, camera poses and colours.
    other, _ = _frames("scale_easy_video_hard", seed=1)
    assert np.abs(other.astype(int) - frames).mean() > 15


def test_eval_split_uses_unseen_videos():
    videos = {_frames("scale_easy_video_hard", seed=s, steps=0, split="eval")[1] for s in range(3)}
    assert videos <= set(backgrounds.split_videos()["eval"])


def test_same_seed_renders_identically():
    a, _ = _frames("hard", seed=5, steps=3)
    b, _ = _frames("hard", seed=5, steps=3)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("field,value", [("task", "cheetah-fly"), ("preset", "extreme"),
                                         ("render_quality", "ultra"), ("split", "test")])
def test_bad_env_config_is_rejected(field, value):
    with pytest.raises(ValueError, match=f"unknown {field}"):
        dcs.make_env(dcs.EnvConfig(**{field: value}), 0)


def test_missing_davis_folder_is_rejected(tmp_path):
    with pytest.raises(backgrounds.BackgroundError, match="does not exist"):
        dcs.make_env(dcs.EnvConfig(davis_path=str(tmp_path / "DAVIS")), 0)
