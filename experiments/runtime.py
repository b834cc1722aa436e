"""Process set-up for the entry points: quiet third-party logs, a persistent XLA compile cache,
MUJOCO_GL=egl unless set, 95% of an accelerator's memory for JAX (XLA_PYTHON_CLIENT_MEM_FRACTION,
default 75%), and one line instead of a traceback for errors that say everything (an interruption
after saving, a checkpoint that cannot be written or read, a bad released file).

An entry point ends with ``runtime.run(main)``: ``setup()``, then absl's ``app.run``, so that flag
errors are one line too. Importing this module changes nothing, nor does importing lam_jax or
data_pipeline: the simulator (which reads MUJOCO_GL when it is imported) is imported only where an
environment is built, and JAX reads its memory fraction when its first device is made. Third-party
start-up noise is silenced at its source (our own progress bars and errors stay; LAM_JAX_VERBOSE=1
shows everything). Compiled programs are cached on disk in $LAM_JAX_CACHE/xla (default
~/.cache/lam_jax/xla), so a resumed run or a later stage of the same model starts without
recompiling; JAX_COMPILATION_CACHE_DIR overrides the place, LAM_JAX_COMPILE_CACHE=0 turns it off.
"""
import ast
import logging
import os
import sys
import threading
import traceback

from data_pipeline import quiet


def run(main) -> None:
    """An entry point's last line: the process set up, then ``main`` under absl's flag parsing."""
    from absl import app
    setup()
    app.run(main)


def setup() -> None:
    """Environment variables, log levels, the compile cache and the error hooks (idempotent)."""
    if not os.environ.get("LAM_JAX_VERBOSE"):
        _quiet()
    quiet.silence_known_noise()  # as in the worker processes data_pipeline starts
    os.environ.setdefault("MUJOCO_GL", "egl")  # dm_control picks its GL backend when it is imported
    # JAX takes 75% of an accelerator's memory by default; the paper's regime keeps a 61.5 GB dataset
    # in device memory beside training, which an 80 GB card holds only with more.
    os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.95")
    if os.environ.get("LAM_JAX_COMPILE_CACHE", "1") != "0":
        _compile_cache()
    sys.excepthook = _one_line_errors
    threading.excepthook = _thread_errors
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # orbax's failed writer tasks, already reported


def _quiet() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow, if TFDS finds one
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    for name in ("absl", "orbax", "jax._src.distributed", "tensorflow_datasets"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from absl import logging as absl_logging
    absl_logging.set_verbosity(absl_logging.WARNING)


def _compile_cache() -> None:
    """Set for this process's JAX (imported already: the entry points import the library first) and
    for the processes it starts."""
    cache_root = os.environ.get("LAM_JAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "lam_jax"))
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(cache_root, "xla"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")
    if "jax" in sys.modules:
        import jax
        jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
        jax.config.update("jax_persistent_cache_min_compile_time_secs",
                          float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))


# Errors whose message says everything: one line, no traceback.
_ONE_LINE = {"TrainingInterrupted": "interrupted", "CheckpointSaveError": "error", "DamagedCheckpointError": "error",
             "ReleasedFileError": "error", "PeerLostError": "error", "FolderBusyError": "error",
             "RunAgreementError": "error", "ConfigMismatchError": "error",
             "NonFiniteCheckpointError": "error", "ConfigError": "error", "MissingPathError": "error",
             "UnknownConfigKey": "error", "MemoryNeedError": "error",
             "WorkerError": "error"}
# After these, shutting down would wait on what failed: orbax's writer tasks, or jax.distributed's
# shutdown barrier with a process that is gone.
_EXIT_AT_ONCE = ("CheckpointSaveError", "PeerLostError", "RunAgreementError")


def _unknown_config_flag(kind, value, tb) -> str | None:
    """--config.KEY=VALUE with a KEY the config lacks fails inside ml_collections' flag parsing as a
    bare AttributeError ('lr'): the flag and ml_collections' suggestion instead."""
    if not issubclass(kind, (AttributeError, KeyError)) or not any(
            "ml_collections" in f.filename for f in traceback.extract_tb(tb)):
        return None
    text = str(value)
    try:
        text = ast.literal_eval(text) if text[:1] in "'\"" else text
    except (ValueError, SyntaxError):
        pass
    key, _, hint = str(text).partition("\n")
    key = key.strip("'\"")
    flag = next((a.split("=")[0] for a in sys.argv[1:] if a.startswith("--") and a.split("=")[0].endswith(f".{key}")),
                key)
    return f"unknown config key in {flag}" + (f": {hint.strip()}" if hint else "")


def _one_line_errors(kind, value, tb):
    prefix = _ONE_LINE.get(kind.__name__)
    message = None if prefix else _unknown_config_flag(kind, value, tb)
    if message:
        sys.stderr.write(f"error: {message}\n")
        sys.stderr.flush()
        return
    if prefix is None:
        sys.__excepthook__(kind, value, tb)
        return
    sys.stderr.write(f"{prefix}: {value}\n")  # one write: a thread's line cannot land inside it
    sys.stderr.flush()
    if kind.__name__ in _EXIT_AT_ONCE:
        sys.stdout.flush()
        os._exit(1)


_warned_tensorboard = []


def _thread_errors(args):
    """TensorBoard's writer thread failing to write (a full disk, no permission) is one warning, once:
    metrics.jsonl still has every point, and a checkpoint that cannot be written says so itself."""
    frames = traceback.extract_tb(args.exc_traceback)
    if isinstance(args.exc_value, OSError) and any("tensorboardX" in f.filename for f in frames):
        if not _warned_tensorboard:
            _warned_tensorboard.append(True)
            sys.stderr.write(f"warning: TensorBoard events not written ({args.exc_value}); "
                             "metrics.jsonl keeps every point\n")
            sys.stderr.flush()
        return
    threading.__excepthook__(args)
