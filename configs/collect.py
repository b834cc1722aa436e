"""Expert trajectory collection: ``--config=configs/collect.py:VARIANT`` (override with --config.x=...).

Variants:
- ``paper``: the reference's datasets: 5000 training trajectories of 1000 steps at 64 px
  (about 61 GB of frames), with the paper's distractors;
- ``small``: the CPU regime of the README's main job and the ladder: 32 training and 4 eval
  trajectories of 1000 steps at 32 px;
- ``smoke``: seconds, for tests.
The eval split always uses the DAVIS validation videos, unseen in training.
"""
import ml_collections

# The smoke variant's sizes; experiments.main --variant=smoke collects the same data.
SMOKE_SIZES = dict(num_train=4, num_eval=1, num_steps=50, suffix="smoke")


def get_config(arg: str = "small") -> ml_collections.ConfigDict:
    variant = arg or "small"
    c = ml_collections.ConfigDict()
    c.env = ml_collections.ConfigDict(dict(
        task="cheetah-run",
        preset="scale_easy_video_hard",  # the paper's distractors
        image_size=64,
        camera_id=0,
        sky_size=128,  # background texture side (DCS uses 800; the video is resized to it)
        render_quality="fast",  # no shadows, no multisampling: about 3x the paper quality's frames/s
        davis_path="",  # DAVIS-2017 root, JPEGImages or JPEGImages/480p; '' -> procedural videos
        procedural_seed=0, procedural_frames=48,
        split="train"))
    c.num_train = 5000
    c.num_eval = 50
    c.num_steps = 1000
    c.seed = 0
    c.num_workers = 2
    c.num_shards = 0  # 0: shards of about 256 MiB of raw episodes; N: at most N shards per split
    c.data_dir = "data"
    c.name = ""  # '' -> {task}_{preset}_{image_size}px[_{suffix}]
    c.suffix = ""  # keeps a variant's dataset apart from another's of the same task and size
    c.keep_staging = False
    if variant == "small":
        c.num_train, c.num_eval = 32, 4
        c.env.image_size = 32
    elif variant == "smoke":
        c.update(SMOKE_SIZES)
        c.env.image_size = 32
    elif variant != "paper":
        raise ValueError(f"unknown collect variant {variant!r}; expected paper, small or smoke")
    return c
