"""Distracting Control Suite environments on dm_control with MuJoCo >= 3 and fast rendering (the
settings, without the simulator, are in ``env_config``).

Composes dm_control with distracting_control's camera and colour wrappers and a background
wrapper adapted to MuJoCo 3 (``tex_rgb`` became ``tex_data``) whose sky texture size is an
option: DCS hard-codes 800x800, whose per-step upload caps rendering at ~26 steps/s.
"""
from __future__ import annotations

import functools
import os

import numpy as np

from data_pipeline import backgrounds
from data_pipeline.env_config import PRESETS, RENDER_QUALITY, TASKS, EnvConfig, background_folder
from dm_control import suite
from dm_control.mujoco.wrapper import mjbindings
from dm_control.suite.wrappers import pixels
from distracting_control import background, camera, color, suite_utils


@functools.lru_cache(maxsize=8)
def _video_textures(video_dir: str, sky_size: int) -> tuple[np.ndarray, ...]:
    """All frames of one video, as RGB, resized and flattened to the sky texture (cached per worker)."""
    frames = backgrounds.list_frames(video_dir)
    if not frames:
        raise backgrounds.BackgroundError(f"background video folder {video_dir!r} has no frames")
    return tuple(background.size_and_flatten(backgrounds.read_rgb(os.path.join(video_dir, f)), sky_size, sky_size)
                 for f in frames)


class BackgroundEnv(background.DistractingBackgroundEnv):
    """DCS's background wrapper, for MuJoCo 3 and with a configurable sky texture size."""

    def __init__(self, env, *, sky_size: int, **kwargs):
        super().__init__(env, **kwargs)
        self._sky_size = sky_size
        self.current_video = ""

    def _reset_background(self):
        model = self._env.physics.model
        if self._ground_plane_alpha is not None:
            self._env.physics.named.model.mat_rgba["grid", "a"] = self._ground_plane_alpha
        # A square sky: only the first face of the skybox is used (as in DCS), at our size.
        idx = background.SKY_TEXTURE_INDEX
        model.tex_height[idx] = model.tex_width[idx] = self._sky_size
        size = self._sky_size * self._sky_size * 3
        address = model.tex_adr[idx]
        if self._video_paths:
            # Same random draws as DCS, so seeds mean the same thing.
            video_path = str(self._random_state.choice(self._video_paths))
            textures = _video_textures(video_path, self._sky_size)
            if not self._dynamic:
                textures = (textures[self._random_state.choice(len(textures))],)
            self._current_img_index = self._random_state.choice(len(textures))
            self._step_direction = self._random_state.choice([-1, 1])
            self.current_video = os.path.basename(video_path)
        else:
            self._current_img_index = 0
            textures = (model.tex_data[address:address + size].copy(),)
        self._background = background.Texture(size, address, textures)
        self._apply()

    def _apply(self):
        if self._background:
            start, end = self._background.address, self._background.address + self._background.size
            self._env.physics.model.tex_data[start:end] = self._background.textures[self._current_img_index]
            with self._env.physics.contexts.gl.make_current() as ctx:
                ctx.call(mjbindings.mjlib.mjr_uploadTexture, self._env.physics.model.ptr,
                         self._env.physics.contexts.mujoco.ptr, background.SKY_TEXTURE_INDEX)


def make_env(cfg: EnvConfig, seed: int):
    """A dm_control environment with distractors whose observation holds 'pixels' and the state keys.

    ``seed`` fixes the start state (dm_control's task RNG) and every distractor's RNG.
    """
    cfg.validate()
    domain, task = TASKS[cfg.task]
    preset = PRESETS[cfg.preset]
    task_seed, bg_seed, cam_seed, col_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(4))
    env = suite.load(domain, task, task_kwargs={"random": task_seed})
    for key, value in RENDER_QUALITY[cfg.render_quality].items():
        setattr(env.physics.model.vis.quality, key, value)
    if preset.num_videos != 0:
        folder = background_folder(cfg)
        videos = backgrounds.check_videos(folder, cfg.split, preset.num_videos)
        kwargs = suite_utils.get_background_kwargs(domain, None, preset.dynamic, folder, videos)
        env = BackgroundEnv(env, sky_size=cfg.sky_size, seed=bg_seed, **kwargs)
    if preset.camera_scale:
        env = camera.DistractingCameraEnv(
            env, camera_id=cfg.camera_id, seed=cam_seed,
            **suite_utils.get_camera_kwargs(domain, preset.camera_scale, preset.dynamic))
    if preset.color_scale:
        env = color.DistractingColorEnv(env, seed=col_seed,
                                        **suite_utils.get_color_kwargs(preset.color_scale, preset.dynamic))
    return pixels.Wrapper(env, pixels_only=False, render_kwargs=dict(
        height=cfg.image_size, width=cfg.image_size, camera_id=cfg.camera_id))


def current_video(env) -> str:
    """Name of the background video the episode uses ('' when there is none)."""
    while env is not None:
        if isinstance(env, BackgroundEnv):
            return env.current_video
        env = getattr(env, "_env", None)
    return ""
