import os

import numpy as np
import pytest

from data_pipeline import backgrounds


def test_procedural_video_is_deterministic_dynamic_and_seed_dependent():
    a = backgrounds.procedural_video(seed=3, num_frames=8, size=32)
    b = backgrounds.procedural_video(seed=3, num_frames=8, size=32)
    c = backgrounds.procedural_video(seed=4, num_frames=8, size=32)
    assert a.shape == (8, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).mean() > 10  # another video
    assert np.abs(a[0].astype(int) - a[-1]).mean() > 2  # it moves
    assert a.std() > 20  # not a flat colour


def test_procedural_folder_has_davis_layout(tmp_path):
    folder = backgrounds.ensure_procedural_videos(str(tmp_path), seed=0, num_frames=3, size=16)
    assert backgrounds.check_videos(folder, "train", None) == backgrounds.split_videos()["train"]
    assert len(backgrounds.check_videos(folder, "eval", None)) == 30
    assert not set(backgrounds.split_videos()["train"]) & set(backgrounds.split_videos()["eval"])
    assert len(backgrounds.list_frames(os.path.join(folder, "bear"))) == 3
    # Second call reuses the finished folder.
    assert backgrounds.ensure_procedural_videos(str(tmp_path), seed=0, num_frames=3, size=16) == folder


def test_bad_davis_folders_give_clear_errors(tmp_path):
    with pytest.raises(backgrounds.BackgroundError, match="does not exist"):
        backgrounds.resolve_davis_path(str(tmp_path / "nope"))
    davis = tmp_path / "DAVIS" / "JPEGImages" / "480p"
    for name in backgrounds.split_videos()["train"][:5]:
        (davis / name).mkdir(parents=True)
        (davis / name / "00000.jpg").write_bytes(b"")
    folder = backgrounds.resolve_davis_path(str(tmp_path / "DAVIS"))
    assert folder == str(davis)
    assert len(backgrounds.check_videos(folder, "train", 4)) == 4
    with pytest.raises(backgrounds.BackgroundError, match="too few videos"):
        backgrounds.check_videos(folder, "train", None)
    with pytest.raises(backgrounds.BackgroundError, match="split has only 60"):
        backgrounds.check_videos(folder, "train", 61)
