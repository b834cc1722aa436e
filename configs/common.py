"""Shared LAM pretraining settings; each method's config file starts from these.

``arg`` is ``VARIANT[,key=value...]``. VARIANT is ``paper`` (the paper's scale, for accelerators),
``small`` (minutes on 2 CPU cores; the README job and experiments) or ``smoke`` (about a minute on
CPU; tests). key=value pairs override top-level, model or data fields.
"""
import ml_collections

#                 encoder  latent  hidden  ema    batch  labeled  steps   lr     warmup  log  save  k_labeled
SCALES = {
    "paper": dict(enc=4.0, lat=8192, hid=1024, tau=0.001, bs=512, lbs=128, n=100_000, lr=1e-4, wu=5000, log=500, save=5000, k=4),
    "small": dict(enc=0.5, lat=128, hid=256, tau=0.005, bs=32, lbs=16, n=1500, lr=5e-4, wu=100, log=50, save=500, k=4),
    "smoke": dict(enc=0.5, lat=32, hid=128, tau=0.005, bs=32, lbs=16, n=300, lr=1e-3, wu=20, log=25, save=100, k=2),
}
VARIANTS = tuple(SCALES)


def base_config(variant: str) -> ml_collections.ConfigDict:
    if variant not in SCALES:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    s = SCALES[variant]
    c = ml_collections.ConfigDict()
    c.variant = variant
    c.model = ml_collections.ConfigDict(dict(
        name="", encoder_scale=s["enc"], latent_dim=s["lat"], hidden_dim=s["hid"], num_blocks=3,
        fsq_levels=0, ema_tau=s["tau"], augment="", labeled_loss_coef=0.0, dtype="float32",
        fdm_normalize=False))  # LAOM: standardise FDM prediction and EMA target per sample
    c.frame_stack = 3
    c.max_offset = 1  # k ~ U{1..max_offset}: the IDM sees o_t and o_{t+k}
    c.batch_size, c.labeled_batch_size = s["bs"], s["lbs"]
    c.num_steps, c.learning_rate, c.warmup_steps = s["n"], s["lr"], s["wu"]
    c.final_lr_fraction = 0.1
    c.weight_decay = 0.0
    c.grad_clip = 1.0
    c.seed = 0
    c.log_every, c.save_every = s["log"], s["save"]
    c.num_devices = 0  # 0: every visible device
    c.distributed = False  # multi-host via jax.distributed
    c.data = ml_collections.ConfigDict(dict(
        path="",  # a built TFDS dataset dir; "" -> synthetic episodes
        labeled_trajectories=s["k"],  # k whole trajectories with action labels
        synthetic_episodes=8, synthetic_length=64, image_size=64,
        streaming=False))  # True: keep episodes in host memory (larger than device memory)
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
