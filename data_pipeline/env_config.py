"""What a Distracting Control Suite environment is (task, distractor preset, rendering), without the
simulator: datasets, training and reports read these settings; ``dcs.make_env`` builds one.
"""
from __future__ import annotations

import dataclasses

from data_pipeline import backgrounds

TASKS = {
    "cheetah-run": ("cheetah", "run"),
    "walker-run": ("walker", "run"),
    "hopper-hop": ("hopper", "hop"),
    "humanoid-walk": ("humanoid", "walk"),
}


@dataclasses.dataclass(frozen=True)
class Preset:
    camera_scale: float  # 0 disables the camera distractor
    color_scale: float  # 0 disables the colour distractor
    num_videos: int | None  # 0: no background video; None: every video of the split
    dynamic: bool = True


PRESETS = {
    "vanilla": Preset(0.0, 0.0, 0, dynamic=False),
    "easy": Preset(0.1, 0.1, 4),
    "medium": Preset(0.2, 0.2, 8),
    "hard": Preset(0.3, 0.3, None),
    # The paper's setting: mild camera shake and colour change, all DAVIS train videos, dynamic.
    "scale_easy_video_hard": Preset(0.1, 0.1, None),
}

# MuJoCo offscreen quality: shadows and multisampling dominate software (EGL/llvmpipe) cost.
RENDER_QUALITY = {
    "paper": dict(shadowsize=2048, offsamples=4),
    "medium": dict(shadowsize=512, offsamples=0),
    "fast": dict(shadowsize=0, offsamples=0),
}


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    task: str = "cheetah-run"
    preset: str = "scale_easy_video_hard"
    split: str = "train"  # which background videos: 'train' or 'eval' (unseen)
    image_size: int = 64
    camera_id: int = 0
    sky_size: int = 128
    render_quality: str = "fast"
    davis_path: str | None = None  # None: procedural videos
    procedural_seed: int = 0
    procedural_frames: int = 48

    def validate(self) -> "EnvConfig":
        _check_choice("task", self.task, TASKS)
        _check_choice("preset", self.preset, PRESETS)
        _check_choice("split", self.split, backgrounds.SPLITS)
        _check_choice("render_quality", self.render_quality, RENDER_QUALITY)
        if self.image_size < 8 or self.sky_size < 8:
            raise ValueError(f"image_size and sky_size must be >= 8, got {self.image_size}, {self.sky_size}")
        return self


def _check_choice(what, value, options):
    if value not in options:
        raise ValueError(f"unknown {what} {value!r}; expected one of {sorted(options)}")


def background_folder(cfg: EnvConfig) -> str:
    if cfg.davis_path:
        return backgrounds.resolve_davis_path(cfg.davis_path)
    return backgrounds.ensure_procedural_videos(seed=cfg.procedural_seed, num_frames=cfg.procedural_frames,
                                                size=cfg.sky_size)
