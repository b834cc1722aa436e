"""Test set-up: several CPU devices for sharding tests, private caches for background videos and
compiled programs (tests and the commands they start compile the same smoke programs again and again)."""
import os
import tempfile

# Must precede the first jax import anywhere in the test session.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="lam_jax_test_xla_"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    os.environ["LAM_JAX_CACHE"] = str(tmp_path_factory.mktemp("lam_jax_cache"))
    yield


@pytest.fixture
def collect_config(tmp_path):
    """The smoke collection config writing under a fresh temporary data_dir."""
    from configs import collect
    cfg = collect.get_config("smoke")
    cfg.data_dir = str(tmp_path / "data")
    cfg.num_workers, cfg.num_train = 1, 2
    return cfg


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs():
    """Each module's compiled programs are dropped after it: the whole suite in one process would
    otherwise hold every program it compiled (the reference-equivalence tests alone compile dozens)."""
    yield
    import gc
    import jax
    jax.clear_caches()
    gc.collect()
