"""Expert trajectory collection: ``--config=configs/collect.py:VARIANT[,task=...]``.

Variants: ``smoke`` (seconds, for tests), ``small`` (the README default), ``large``.
"""
import ml_collections

VARIANTS = {
    # num_train, num_eval, num_steps
    "smoke": (2, 1, 50),
    "small": (32, 4, 1000),
    "large": (1000, 50, 1000),
}


def get_config(arg: str = "small") -> ml_collections.ConfigDict:
    variant, *overrides = (arg or "small").split(",")
    if variant not in VARIANTS:
        raise ValueError(f"unknown collect variant {variant!r}; expected one of {sorted(VARIANTS)}")
    num_train, num_eval, num_steps = VARIANTS[variant]
    c = ml_collections.ConfigDict()
    c.env = ml_collections.ConfigDict(dict(
        task="cheetah-run", preset="scale_easy_video_hard", image_size=64, camera_id=0, sky_size=128,
        render_quality="fast", davis_path="", procedural_seed=0, procedural_frames=48, split="train"))
    c.num_train, c.num_eval, c.num_steps = num_train, num_eval, num_steps
    c.seed = 0
    c.num_workers = 2
    c.num_shards = 0  # 0: TFDS decides
    c.data_dir = "data"
    c.name = ""  # "" -> {task}_{preset}_{image_size}px
    c.keep_staging = False
    for item in overrides:  # e.g. "small,task=walker-run"
        key, value = item.split("=", 1)
        c.env[key] = type(c.env[key])(value)
    return c
