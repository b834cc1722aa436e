"""Shared LAM pretraining settings; each method's config file starts from these.

``arg`` is ``VARIANT[,key=value...]`` with VARIANT ``paper`` (the paper's scale) or ``smoke``
(trains in about a minute on 2 CPU cores); key=value pairs override top-level or model fields.
"""
import ml_collections

VARIANTS = ("paper", "smoke")


def base_config(variant: str) -> ml_collections.ConfigDict:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    smoke = variant == "smoke"
    c = ml_collections.ConfigDict()
    c.variant = variant
    c.model = ml_collections.ConfigDict(dict(
        name="", encoder_scale=0.5 if smoke else 4.0, latent_dim=32 if smoke else 8192,
        hidden_dim=128 if smoke else 1024, num_blocks=3, fsq_levels=0, ema_tau=0.005 if smoke else 0.001,
        augment=False, labeled_loss_coef=0.0, dtype="float32"))
    c.frame_stack = 3
    c.max_offset = 1  # k ~ U{1..max_offset}: the IDM sees o_t and o_{t+k}
    c.batch_size = 32 if smoke else 512
    c.labeled_batch_size = 16 if smoke else 128
    c.num_steps = 300 if smoke else 100_000
    c.learning_rate = 1e-3 if smoke else 1e-4
    c.warmup_steps = 20 if smoke else 5_000
    c.final_lr_fraction = 0.1
    c.weight_decay = 0.0
    c.grad_clip = 1.0
    c.seed = 0
    c.log_every = 25 if smoke else 500
    c.save_every = 100 if smoke else 5_000
    c.num_devices = 0  # 0: every visible device
    c.distributed = False  # multi-host via jax.distributed
    c.data = ml_collections.ConfigDict(dict(
        path="",  # a built TFDS dataset dir; "" -> synthetic episodes
        labeled_trajectories=2 if smoke else 4,  # k whole trajectories with action labels
        synthetic_episodes=8, synthetic_length=64, streaming=False))
    c.workdir = ""
    return c


def apply_overrides(c: ml_collections.ConfigDict, overrides) -> ml_collections.ConfigDict:
    for item in overrides:
        key, value = item.split("=", 1)
        target = c.model if key in c.model else c.data if key in c.data else c
        if key not in target:
            raise KeyError(f"unknown config key {key!r}")
        current = target[key]
        target[key] = (value.lower() in ("1", "true", "yes")) if isinstance(current, bool) else type(current)(value)
    return c


def split_arg(arg: str | None, default: str = "smoke"):
    variant, *overrides = (arg or default).split(",")
    return variant, overrides
