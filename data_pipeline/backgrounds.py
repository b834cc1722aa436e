"""Background videos for the distracting backgrounds.

Either a user-given DAVIS-2017 ``JPEGImages/480p`` folder, or procedurally generated,
natural-looking dynamic videos written in the same layout (one folder of JPEGs per video,
named like the DAVIS videos so DCS's 'train'/'val' lists select them).
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile

import cv2
import numpy as np

SPLITS = ("train", "eval")  # DAVIS-2017's training and validation videos
_IMAGE_EXTS = (".jpg", ".jpeg", ".png")


@functools.cache
def split_videos() -> dict[str, list[str]]:
    """The DAVIS-2017 video names of each split, as DCS lists them (read when first needed: DCS
    imports the simulator)."""
    from distracting_control.background import DAVIS17_TRAINING_VIDEOS, DAVIS17_VALIDATION_VIDEOS
    return {"train": list(DAVIS17_TRAINING_VIDEOS), "eval": list(DAVIS17_VALIDATION_VIDEOS)}


class BackgroundError(ValueError):
    """A background video folder is missing, incomplete or malformed."""


def default_cache_dir() -> str:
    return os.environ.get("LAM_JAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "lam_jax"))


def resolve_davis_path(path: str) -> str:
    """Accepts the DAVIS root, its JPEGImages folder or JPEGImages/480p; returns the latter."""
    path = os.path.expanduser(path)
    if not os.path.isdir(path):
        raise BackgroundError(f"DAVIS folder {path!r} does not exist. Pass the DAVIS-2017 "
                              "'JPEGImages/480p' folder, or leave davis_path empty for procedural videos.")
    for sub in ("JPEGImages/480p", "480p"):
        if os.path.isdir(os.path.join(path, sub)):
            return os.path.join(path, sub)
    return path


def read_rgb(path: str) -> np.ndarray:
    """A frame as uint8 RGB [H, W, 3], whatever its colour mode (grayscale, RGBA, palette, 16-bit)."""
    from PIL import Image
    try:
        with Image.open(path) as img:
            if img.mode in ("I", "I;16", "I;16B", "F"):  # high bit depth grayscale: scale to 8 bits
                arr = np.asarray(img, np.float64)
                arr = 255.0 * (arr - arr.min()) / max(arr.max() - arr.min(), 1e-9)
                return np.repeat(arr.astype(np.uint8)[..., None], 3, -1)
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError) as e:
        raise BackgroundError(f"cannot read background frame {path!r}: {e}") from e


def list_frames(video_dir: str) -> list[str]:
    return sorted(f for f in os.listdir(video_dir) if f.lower().endswith(_IMAGE_EXTS))


def check_videos(folder: str, split: str, num_videos: int | None) -> list[str]:
    """Returns the videos a split uses, raising a clear error if any are missing or empty."""
    if split not in SPLITS:
        raise BackgroundError(f"unknown video split {split!r}; expected one of {sorted(SPLITS)}")
    names = split_videos()[split]
    wanted = len(names) if num_videos is None else num_videos
    if wanted > len(names):
        raise BackgroundError(f"{wanted} background videos requested but the DAVIS-2017 {split} "
                              f"split has only {len(names)}")
    names = names[:wanted]
    missing = [n for n in names if not os.path.isdir(os.path.join(folder, n))]
    empty = [n for n in names if n not in missing and not list_frames(os.path.join(folder, n))]
    if missing or empty:
        raise BackgroundError(
            f"background folder {folder!r} has too few videos for the {split} split: needs {wanted}, "
            f"missing {len(missing)} {missing[:5]}, empty {len(empty)} {empty[:5]}. "
            "Expected the DAVIS-2017 JPEGImages/480p layout (one folder of frames per video).")
    return names


# ----------------------------------------------------------------------------- procedural videos

def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int, channels: int) -> np.ndarray:
    """Band-limited noise in [0, 1]: random values on a coarse grid, upsampled bicubically."""
    coarse = rng.random((cells, cells, channels)).astype(np.float32)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(img.reshape(h, w, channels), 0.0, 1.0)


def procedural_video(seed: int, num_frames: int = 48, size: int = 128) -> np.ndarray:
    """A deterministic natural-looking video [T, size, size, 3] uint8.

    A panning landscape-like backdrop (multi-scale coloured noise under a sky gradient) with a
    few textured blobs moving along smooth paths: large, coherent, moving structure like DAVIS.
    """
    rng = np.random.default_rng(seed)
    pan = rng.uniform(0.5, 2.0) * rng.choice([-1, 1])  # pixels per frame
    canvas_w = size + int(abs(pan) * num_frames) + 2
    palette = rng.random((3, 3)).astype(np.float32)  # three base colours
    weights = sum(_smooth_noise(rng, size, canvas_w, c, 3) * a for c, a in ((4, 0.6), (12, 0.3), (40, 0.1)))
    weights = weights / weights.sum(-1, keepdims=True)
    backdrop = weights @ palette
    horizon = rng.uniform(0.25, 0.6)
    sky = np.linspace(1.0, 0.5, size, dtype=np.float32)[:, None, None] * rng.random(3).astype(np.float32)
    rows = np.arange(size)[:, None, None] < horizon * size
    backdrop = np.where(rows, 0.6 * sky + 0.4 * backdrop, backdrop)

    num_blobs = int(rng.integers(2, 6))
    blob_colour = rng.random((num_blobs, 3))
    blob_axes = rng.uniform(0.08, 0.3, (num_blobs, 2)) * size
    blob_freq = rng.uniform(0.02, 0.12, (num_blobs, 2))
    blob_phase = rng.uniform(0, 2 * np.pi, (num_blobs, 2))
    blob_centre = rng.uniform(0.2, 0.8, (num_blobs, 2)) * size
    grain = _smooth_noise(rng, size, size, 32, 1)

    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for t in range(num_frames):
        x0 = int(round(abs(pan) * t)) if pan > 0 else canvas_w - size - int(round(abs(pan) * t))
        x0 = int(np.clip(x0, 0, canvas_w - size))
        frame = np.ascontiguousarray(backdrop[:, x0:x0 + size]).copy()
        for b in range(num_blobs):
            centre = blob_centre[b] + 0.25 * size * np.sin(blob_freq[b] * t + blob_phase[b])
            angle = float(np.degrees(blob_phase[b, 0]) + 3 * t)
            cv2.ellipse(frame, (int(centre[0]), int(centre[1])),
                        (int(blob_axes[b, 0]), int(blob_axes[b, 1])), angle, 0, 360,
                        tuple(float(c) for c in blob_colour[b]), -1, lineType=cv2.LINE_AA)
        frame = frame * (0.8 + 0.4 * grain)
        frames[t] = np.clip(cv2.GaussianBlur(frame, (3, 3), 0) * 255.0, 0, 255).astype(np.uint8)
    return frames


def _video_seed(name: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}/{name}".encode()).digest()[:8], "little")


def ensure_procedural_videos(root: str | None = None, seed: int = 0, num_frames: int = 48,
                             size: int = 128) -> str:
    """Writes (once) procedural train and eval videos in DAVIS layout and returns the folder.

    The folder is built in a temporary directory and renamed into place, so an interrupted
    generation never leaves a half-written set behind.
    """
    root = root or os.path.join(default_cache_dir(), "backgrounds")
    folder = os.path.join(root, f"procedural_s{seed}_t{num_frames}_{size}px")
    if os.path.isfile(os.path.join(folder, "COMPLETE")):
        return folder
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".procedural_", dir=root)
    try:
        for name in split_videos()["train"] + split_videos()["eval"]:
            video = procedural_video(_video_seed(name, seed), num_frames, size)
            os.makedirs(os.path.join(tmp, name))
            for t, frame in enumerate(video):
                cv2.imwrite(os.path.join(tmp, name, f"{t:05d}.jpg"), frame[..., ::-1],
                            [cv2.IMWRITE_JPEG_QUALITY, 92])
        open(os.path.join(tmp, "COMPLETE"), "w").close()
        try:
            os.rename(tmp, folder)
        except OSError:  # another process finished first
            if not os.path.isfile(os.path.join(folder, "COMPLETE")):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
