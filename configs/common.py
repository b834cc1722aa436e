"""Shared LAM pretraining settings; each method's config file starts from ``lam_config()``.

``get_config(VARIANT)``:
- ``paper``: the reference's settings (dunnolab/laom ``configs/*.yaml``), for accelerators;
- ``small``: the same architectures at CPU scale (narrower, fewer steps, smaller batch), the
  regime of the README's main job and the ladder experiment;
- ``mini``: ``small``'s compute (encoder, frames, batch, updates) with every other size and rate
  derived from ``paper`` by the ratios ``miniature`` keeps (docs/parity.md, "The miniature");
- ``smoke``: seconds on CPU, for tests.
Any field is overridden as ``KEY=VALUE`` (``override``): ``--config.model.latent_dim=128`` on a
stage's command line, ``--lam.model.latent_dim=128`` for every run of an experiment.
"""
import ml_collections
from absl import flags
from ml_collections import config_flags

from lam_jax import errors
from lam_jax.training import metrics

VARIANTS = ("paper", "small", "mini", "smoke")

# The paper's run, for the ratios ``miniature`` keeps: 10 epochs over 5000 trajectories of 1000 steps
# (1000 - max_offset windows each) at batch 512, LAOM's loader keeping the last partial batch; the
# encoder (16, 32, 32) x 6 maps 64 px frames to an 8 x 8 x 192 embedding.
PAPER_UPDATES = 10 * -(-5000 * (1000 - 10) // 512)  # 96,680
PAPER_EMBEDDING = 8 * 8 * 192  # 12,288


def lam_config() -> ml_collections.ConfigDict:
    """The training settings every reference LAM yaml shares (lapo/laom/laom-labels)."""
    c = ml_collections.ConfigDict()
    c.variant = "paper"
    c.model = ml_collections.ConfigDict()
    c.model.name = ""
    c.model.encoder_scale = 6.0  # channels = encoder_channels * encoder_scale = (96, 192, 192)
    c.model.encoder_channels = (16, 32, 32)  # encoder_deep: False
    c.model.encoder_num_res_blocks = 2
    c.model.encoder_norm_out = False  # LAOM: LayerNorm (no affine) on the flattened embedding
    c.model.latent_dim = 8192  # latent_action_dim
    c.model.act_head_dim = 1024  # LAOM's IDM head width (and the IDM baseline's)
    c.model.obs_head_dim = 1024  # LAOM's FDM head width
    c.model.fsq_levels = 0  # LAPO only: 0 disables FSQ (the paper's LAPO has none)
    c.model.augment = False  # use_aug
    c.model.augment_scale = 1.0  # the reference's magnitudes x this: pads, angles, perspective distortion
    # Which views share a transform: "independent" (the reference: o_t, o_{t+k}, o_{t+1} each their
    # own), "pair" (the IDM's o_t and o_{t+k} one, the target its own), "shared" (one for all three)
    c.model.augment_views = "independent"
    c.model.ema_tau = 0.001  # target_tau
    c.model.target_update_every = 1
    c.model.labeled_loss_coef = 0.0
    c.model.dtype = "bfloat16"  # the reference trains under torch.autocast(bfloat16)
    c.frame_stack = 3
    c.max_offset = 10  # future_obs_offset: k ~ U{1..max_offset}, the IDM sees o_t and o_{t+k}
    c.batch_size = 512
    c.labeled_batch_size = 128
    c.num_epochs = 10  # > 0: the schedule counts epochs over the training windows
    c.num_steps = 0  # used when num_epochs == 0
    c.stop_at = 0  # > 0: stop after this step (schedule unchanged; a later run resumes), e.g. for time-limited jobs
    c.warmup_epochs = 3.0  # linear warm-up, then linear decay to zero at the last step
    c.warmup_steps = 0  # used when warmup_epochs == 0
    c.learning_rate = 1e-4
    c.weight_decay = 0.0
    c.grad_clip = 0.0  # 0: none (the reference's grad_norm=None)
    c.probe_learning_rate = 0.0  # online probes' own Adam; 0: learning_rate, as the reference
    c.label_head_learning_rate = 0.0  # LAOM+sup's head z -> a under the model's schedule; 0: learning_rate
    c.seed = 0
    c.log_every = 500
    c.save_every = 5000
    c.keep_checkpoints = 2
    c.keep_every = 0  # > 0: checkpoints at multiples of this step are kept too (e.g. for a budget curve)
    c.resume_fallback = True  # a damaged newest checkpoint is set aside and the previous one resumed
    c.num_devices = 0  # 0: every visible device
    c.log = log_config()
    c.distributed = ml_collections.ConfigDict(dict(
        enabled=False,  # multi-host through jax.distributed
        coordinator_address="",  # host:port of process 0; "" with the rest empty: cluster auto-detection
        num_processes=0,
        process_id=-1,
        initialization_timeout=900,  # s: processes may start (or compile) this far apart
        heartbeat_timeout=100))  # s: a process silent this long counts as dead
    c.data = ml_collections.ConfigDict(dict(
        path="",  # a built TFDS dataset dir, or a released .hdf5 training file; "" -> synthetic episodes
        eval_path="",  # released .hdf5 only: the eval file; "" -> the one beside `path` with the released name
        labeled_paths="",  # released .hdf5 only: labeled files, comma-separated; "" -> those beside `path`
        labeled_trajectories=128,  # k whole trajectories with action labels (LAOM+sup, IDM)
        action_key="reference",  # 'reference': what the reference stores (raw PPO output, SAC action)
        synthetic_episodes=8, synthetic_length=64, image_size=64,
        streaming=False,  # True: episodes stay in the TFDS shards, read through a host buffer
        buffer_episodes=64, buffer_steps=200))  # streaming: episodes held, steps per buffer
    c.eval_split = "eval"  # held-out split for the ridge probe and the eval action MSE
    c.workdir = ""
    return c


def scale_down(c: ml_collections.ConfigDict, variant: str) -> ml_collections.ConfigDict:
    """``small`` and ``smoke``: the same architecture family, narrower, shorter, smaller batches."""
    if variant not in VARIANTS:
        raise errors.ConfigError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    c.variant = variant
    if variant == "paper":
        return c
    m = c.model
    paper_latent = m.latent_dim
    if variant in ("small", "mini"):
        # The CPU regime of the ladder and the main job (32 px datasets): see reports/ladder.
        m.encoder_scale = 0.5  # channels (8, 16, 16)
        m.latent_dim = min(m.latent_dim, 1024)
        m.act_head_dim = m.obs_head_dim = 256
        c.batch_size, c.labeled_batch_size = 64, 16  # the reference's 4:1 ratio
        c.num_epochs, c.num_steps = 0, 3000
        c.warmup_epochs, c.warmup_steps = 0.0, 900  # 30% of training, as 3 of the reference's 10 epochs
        c.learning_rate = 3e-4
        c.probe_learning_rate = 3e-3  # 3k steps are too few for the online probe at the model's rate
        c.log_every, c.save_every = 100, 1000
        c.data.labeled_trajectories = 4
        m.dtype = "float32"  # bf16 is no faster on CPUs (benchmarks/bench_train.py)
        if variant == "mini":
            return miniature(c, paper_latent, image_size=32)
    else:  # smoke
        m.encoder_scale = 0.5  # channels (8, 16, 16)
        m.encoder_num_res_blocks = 1
        m.latent_dim = min(m.latent_dim, 32)
        m.act_head_dim = m.obs_head_dim = 64
        c.batch_size, c.labeled_batch_size = 32, 16
        c.num_epochs, c.num_steps = 0, 300
        c.warmup_epochs, c.warmup_steps = 0.0, 20
        c.learning_rate = 1e-3
        c.log_every, c.save_every = 25, 100
        c.data.labeled_trajectories = 2
        m.dtype = "float32"
    return c


def miniature(c: ml_collections.ConfigDict, paper_latent: int, image_size: int) -> ml_collections.ConfigDict:
    """The scale-down rule: given the compute a CPU affords (frame size, encoder width, batch,
    updates, already set on ``c``), every other size and rate keeps its ratio in the paper's run.
    Not kept, because they are the compute: data size (32 trajectories, not 5000), updates (3000,
    not 96,680), encoder width, and the LAM's own learning-rate budget (3000 updates at the paper's
    1e-4 x 32 would be a rate Adam does not train this encoder at)."""
    m = c.model
    channels = [round(x * m.encoder_scale) for x in m.encoder_channels]
    embedding = (image_size // 2 ** len(channels)) ** 2 * channels[-1]  # each stage halves the side
    # Latent vs embedding: the paper's 8192-d latent is 2/3 of its 12,288-d embedding.
    m.latent_dim = round(embedding * paper_latent / PAPER_EMBEDDING)
    # Head widths: the paper's heads (1024) are 1/8 of its latent but 170x the action's size; 1/8 of
    # a miniature latent is a few times the action, so the heads are as wide as the latent instead:
    # nothing before the latent narrower than it.
    m.act_head_dim = m.obs_head_dim = m.latent_dim
    # EMA target: the paper's tau 0.001 is a 1000-update time constant, 1.03% of its run.
    m.ema_tau = round(PAPER_UPDATES / (1000 * c.num_steps), 4)
    # Warm-up: 3 of 10 epochs in the paper, 30% of the run.
    c.warmup_steps = round(0.3 * c.num_steps)
    # The online probes' budget: a constant 1e-4 for 96,680 updates in the paper.
    c.probe_learning_rate = round(1e-4 * PAPER_UPDATES / c.num_steps, 5)
    # LAOM+sup's head z -> a: 1e-4 under the triangular schedule for 96,680 updates in the paper.
    c.label_head_learning_rate = c.probe_learning_rate
    # Augmentation: the reference's pads scale with the frame (augment.reference_settings) and its
    # angles and distortion are relative, so its magnitudes are the same fraction of the body at
    # any resolution; model.augment_scale changes them.
    return c


class UnknownConfigKey(errors.ConfigError, KeyError):
    def __str__(self):  # KeyError would quote the message
        return self.args[0]


def last_per_key(overrides) -> list:
    """``KEY=VALUE`` items with those that a later item for the same key replaces left out."""
    return list({item.partition("=")[0]: item for item in overrides}.values())


def override(c: ml_collections.ConfigDict, overrides) -> ml_collections.ConfigDict:
    """Applies ``KEY=VALUE`` items (KEY dotted from the top: ``model.latent_dim=128``) exactly as
    ``--config.KEY=VALUE`` on a command line would (ml_collections parses both): the one override
    syntax of command lines, experiments and tests. A later item for the same key replaces an
    earlier one; a value must keep its field's type (a tuple, its elements' type)."""
    items = {}
    for item in last_per_key(overrides):
        key, eq, value = item.partition("=")
        if not (eq and key):
            raise errors.ConfigError(f"config override {item!r} is not KEY=VALUE")
        *path, leaf = key.split(".")
        node = c
        for name in path:
            node = node.get(name) if isinstance(node, ml_collections.ConfigDict) else None
        if not isinstance(node, ml_collections.ConfigDict) or leaf not in node or isinstance(
                node[leaf], ml_collections.ConfigDict):
            near = [f"{n}.{leaf}" for n, v in c.items() if isinstance(v, ml_collections.ConfigDict) and leaf in v]
            raise UnknownConfigKey(f"unknown config key {key!r} in {item!r}" + (f" (did you mean {near[0]}?)"
                                                                                 if near else ""))
        items[key] = (value, node[leaf])
    argv = ["", *(f"--config.{key}={value}" for key, (value, _) in items.items())]
    parsed = flags.FlagValues()
    try:
        config_flags.DEFINE_config_dict("config", c, flag_values=parsed, lock_config=False, sys_argv=argv)
        parsed(argv)
    except flags.Error as e:  # a value its field's type cannot take
        raise errors.ConfigError(f"config override: {e}") from None
    for key, (value, before) in items.items():
        after = c[key]
        if isinstance(before, tuple) and before and any(type(x) is not type(before[0]) for x in after):
            raise errors.ConfigError(f"config override {key}={value}: expected a tuple of {type(before[0]).__name__}, "
                             f"as {before}")
    return c


def log_config() -> ml_collections.ConfigDict:
    """Where a stage's metrics go besides metrics.jsonl: lam_jax.training.metrics.LOG_DEFAULTS, which says what
    each key does."""
    return ml_collections.ConfigDict(dict(metrics.LOG_DEFAULTS))
