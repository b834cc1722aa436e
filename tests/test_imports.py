"""Importing the library changes nothing global: environment, exception hooks, log filters and
command-line flags are the entry points' (experiments/runtime.py, experiments/stage_flags.py)."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS = ("MUJOCO_GL", "XLA_PYTHON_CLIENT_MEM_FRACTION", "JAX_COMPILATION_CACHE_DIR",
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "GRPC_VERBOSITY")
OUR_PACKAGES = ("lam_jax", "data_pipeline", "experiments", "configs")
PROBE = """
import json, logging, os, sys, threading
from absl import flags
before = set(flags.FLAGS)
import {modules}
defined_by = lambda name: flags.FLAGS.find_module_defining_flag(name).split(".")[0]
print(json.dumps({{"env": {{k: os.environ.get(k) for k in {ours!r}}},
                  "flags": sorted(f for f in set(flags.FLAGS) - before if defined_by(f) in {packages!r}),
                  "excepthook": sys.excepthook is sys.__excepthook__,
                  "thread_hook": threading.excepthook is threading.__excepthook__,
                  "absl_filters": len(logging.getLogger("absl").filters)}}))
"""
LIBRARY = ("experiments.pipeline_run, lam_jax.stages.downstream, lam_jax.stages.probe, "
           "lam_jax.evaluation.held_out, lam_jax.training.train_lam, lam_jax.training.metrics, "
           "data_pipeline.collect, data_pipeline.vec_env, data_pipeline.import_hdf5")


def _probe(modules: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in OURS}
    code = PROBE.format(modules=modules, ours=OURS, packages=OUR_PACKAGES)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_library_changes_nothing_global():
    got = _probe(LIBRARY)
    assert got == {"env": {k: None for k in OURS}, "flags": [],
                   "excepthook": True, "thread_hook": True, "absl_filters": 0}


def test_the_entry_points_set_up_the_process():
    assert _probe("experiments.runtime")["env"] == {k: None for k in OURS}  # importing it changes nothing
    got = _probe("experiments.runtime, experiments.stage_flags; experiments.runtime.setup()")
    assert got["env"]["MUJOCO_GL"] == "egl" and got["env"]["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.95"
    assert {"config", "dataset", "out"} <= set(got["flags"])
    assert not got["excepthook"] and not got["thread_hook"] and got["absl_filters"] == 1


LAYERS = ("stages", "evaluation", "training", "data", "models", "devices")  # docs/architecture.md


def test_library_layers_import_only_downwards():
    """A layer of lam_jax/ imports its own and lower layers, never a higher one (nor experiments/ or
    configs/, which import the library)."""
    import ast
    bad = []
    for i, layer in enumerate(LAYERS):
        folder = os.path.join(REPO, "lam_jax", layer)
        for name in sorted(os.listdir(folder)):
            if name.endswith(".py"):
                tree = ast.parse(open(os.path.join(folder, name)).read())
                for node in ast.walk(tree):
                    module = node.module if isinstance(node, ast.ImportFrom) else None
                    parts = (module or "").split(".")
                    if parts[0] in ("experiments", "configs") or (parts[0] == "lam_jax" and len(parts) > 1
                                                                  and parts[1] in LAYERS[:i]):
                        bad.append(f"lam_jax/{layer}/{name} imports {module}")
    assert bad == []


def test_training_and_reading_data_import_no_simulator_and_no_plotting():
    """Training, the dataset readers and the reports' statistics import neither the simulator
    (dm_control, gym, mujoco) nor matplotlib (drawn only when a figure is)."""
    code = ("import sys, json\nimport lam_jax.data.episodes, lam_jax.training.train_lam, lam_jax.stages.pretrain, "
            "data_pipeline.rlds_dataset, data_pipeline.released, lam_jax.evaluation.report\n"
            "print(json.dumps(sorted(m for m in ('dm_control', 'gym', 'gymnasium', 'mujoco', 'matplotlib') "
            "if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


ENTRY_POINTS = ("main", "collect_dataset", "pretrain", "evaluate", "ladder", "import_hdf5")


def test_entry_points_import_nothing_their_setup_must_precede():
    """``runtime.run(main)`` sets MUJOCO_GL and JAX's memory fraction after the entry point's imports:
    those must not import the simulator nor make a JAX device."""
    code = ("import sys, json, importlib\nfrom jax._src import xla_bridge\nimportlib.import_module(sys.argv[1])\n"
            "print(json.dumps([m for m in ('dm_control', 'gym', 'mujoco') if m in sys.modules] "
            "+ (['a JAX backend'] if xla_bridge.backends_are_initialized() else [])))")
    for name in ENTRY_POINTS:
        out = subprocess.run([sys.executable, "-c", code, f"experiments.{name}"], cwd=REPO, capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert json.loads(out.stdout.strip().splitlines()[-1]) == [], name
