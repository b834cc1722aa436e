"""The accelerator check's CPU dry run, with the packages the device machine lacks made unimportable,
so the one-shot GPU run cannot rot between the sessions that are lent a GPU."""
import json
import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What the device machine's image does not have (ml-collections travels as a wheel).
ABSENT_ON_DEVICE = ("tensorflow_datasets", "array_record", "dm_control", "mujoco", "distracting_control",
                    "tensorboardX", "wandb")

BLOCKER = f'''import sys
class _Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {ABSENT_ON_DEVICE!r}:
            raise ImportError(f"{{name}} is not on the device machine")
sys.meta_path.insert(0, _Absent())
'''


@pytest.mark.slow
def test_device_check_smoke_runs_every_part(tmp_path):
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(BLOCKER)
    out_dir = tmp_path / "out"
    env = dict(os.environ, OUT=str(out_dir), PYTHONPATH=f"{block}:{REPO}")
    proc = subprocess.run(["bash", "scripts/device_check.sh", "--smoke"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out_dir / "device.json").read_text())
    parts = report["parts"]
    assert report["smoke"] and list(parts) == ["env", "matmul", "step:laom", "full_size", "numerics", "step:lapo",
                                               "step:laom_labels", "step:idm", "flags:laom"]
    failed = {k: v for k, v in parts.items() if "error" in v or "skipped" in v}
    assert not failed, json.dumps(failed, indent=1)[-3000:]
    assert parts["env"]["versions"]["jax"] and parts["env"]["platform"] == "cpu"
    for method in ("laom", "lapo", "laom_labels", "idm"):
        step = parts[f"step:{method}"]
        assert step["samples_per_s"] > 0 and step["gflop_per_sample"] > 0 and step["compile_s"] > 0
    assert parts["full_size"]["episodes"] == 40 and parts["full_size"]["paper_laom_pretraining_minutes"] > 0
    numerics = parts["numerics"]
    assert numerics["gpu_vs_cpu"]["bit_equal"]  # the dry run's 'GPU' is the CPU: the comparison must be exact
    assert numerics["gpu_twice_default_flags"]["bit_equal"]
    assert "error" not in parts["flags:laom"]["autotune_off"]
    assert (out_dir / "device_check.log").read_text().count(": ok") == len(parts)
    assert not list(out_dir.glob("numerics_*.npz"))  # scratch arrays removed
