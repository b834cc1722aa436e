"""Every command the README shows, run as a user types it, at smoke sizes.

Each ```bash block of README.md runs as one bash script (its backgrounded commands included) in
a fresh folder laid out like a checkout (its files linked in, without data/ and runs/), in
README order, so later blocks use what earlier ones built. The only changes to the text: config
variants become ``smoke`` (``:small``/``:paper`` -> ``:smoke``, ``--variant=small`` ->
``--variant=smoke``, dataset paths name the smoke collection's), /data/DAVIS becomes a folder
of fake DAVIS videos, the multi-host port is a free one, the released datasets are downloaded
from a folder of small synthetic files in their layout (LAM_JAX_RELEASE_URL=file://...), and the
flags in TINY are appended (later flags win) to shrink the longest jobs.
``bash scripts/test.sh`` is this suite itself and is not run again.
"""
import os
import re
import socket
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
SMOKE = [(r"(configs/[a-z_]+\.py):(small|paper)", r"\1:smoke"), (r"--variant=small", "--variant=smoke"),
         (r"(_\d+px)/(\d+\.\d+\.\d+)", r"\1_smoke/\2")]  # the smoke collection's dataset
TINY = {
    "scripts/install_and_run.sh": "--variant=smoke --seeds=0",
    "experiments.sweep": "--seeds=0 --labeled=2 --methods=laom_labels,idm,bc",
    "experiments.ladder": "--seeds=0 --rungs=lapo,supervision --budget_steps=4,8 --budget_seeds=0",
    "experiments.fig9a": "--seeds=0 --labeled=2",
    "experiments.regime_search": "--seeds=0 --arms=lapo --lam.num_steps=4 --lam.warmup_steps=1",
    "bench_collection.py": "--steps=20 --presets=vanilla --qualities=fast --workers=1",
    "bench_train.py": "--variants=smoke --methods=lapo --dtypes=float32 --steps=1",
    "bench_loading.py": "--sizes_gb=0.004,0.008 --image_size=32",
    "bench_import.py": "--sizes_gb=0.01 --workers=1,2",
    "experiments.import_hdf5": "--workers=2",
    "runs/laom_labels_paper": "--config.num_steps=20",
    "runs/laom_paper": "--config.num_steps=20",
}
SKIP = ("bash scripts/test.sh",)


def readme_blocks(language: str = "bash") -> list[str]:
    with open(README) as f:
        return re.findall(rf"```{language}\n(.*?)```", f.read(), re.S)


def _shrink_all(text: str) -> str:
    for pattern, repl in SMOKE:
        text = re.sub(pattern, repl, text)
    return text


def _shrink(line: str) -> str:
    line = _shrink_all(line)
    background = line.endswith("&")
    line = line.rstrip("&").rstrip()
    for key, flags in TINY.items():
        if key in line:
            line = f"{line} {flags}"
    return line + (" &" if background else "")


def smoke_script(block: str) -> str:
    lines = [re.sub(r"\s+#.*$", "", x).strip() for x in block.replace("\\\n", " ").splitlines()]
    lines = [" ".join(x.split()) for x in lines if x and not x.startswith("#")]
    return "\n".join(_shrink(x) for x in lines if not any(x.startswith(s) for s in SKIP))


def _fake_davis(root: str) -> str:
    from PIL import Image
    from data_pipeline import backgrounds
    folder = os.path.join(root, "DAVIS", "JPEGImages", "480p")
    for split in ("train", "eval"):
        for i, name in enumerate(backgrounds.split_videos()[split]):
            os.makedirs(os.path.join(folder, name), exist_ok=True)
            for t in range(2):
                Image.new("RGB", (40, 30), (7 * i % 255, 40 * t, 90)).save(os.path.join(folder, name, f"{t:05d}.jpg"))
    return os.path.join(root, "DAVIS")


def _fake_release(root: str) -> str:
    """cheetah-run's released files, tiny: 130 trajectories of 20 frames (labeled files up to 128)."""
    from data_pipeline import synthetic_released
    folder = os.path.join(root, "release_server")
    synthetic_released.write_release(folder, 130, 3, labeled=(2, 4, 8, 16, 32, 64, 128), length=20)
    return "file://" + folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkout")
    for name in os.listdir(REPO):  # the checkout's files; its own data and runs start empty
        if name not in ("data", "runs", ".git", ".pytest_cache", ".ruff_cache"):
            os.symlink(os.path.join(REPO, name), root / name)
    return root


def test_readme_shows_the_two_commands():
    first = readme_blocks()[0]
    assert "bash scripts/install_and_run.sh" in first and "bash scripts/test.sh" in first
    with open(os.path.join(REPO, ".ci", "run")) as f:
        assert "bash scripts/test.sh" in f.read()  # CI runs exactly the README's test command


@pytest.mark.slow
def test_every_readme_command_runs(checkout):
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=REPO, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               LAM_JAX_RELEASE_URL=_fake_release(str(checkout)))
    env.pop("PYTEST_CURRENT_TEST", None)
    davis = _fake_davis(str(checkout))
    for i, block in enumerate(readme_blocks()):
        script = smoke_script(block).replace("/data/DAVIS", davis).replace("127.0.0.1:12345",
                                                                           f"127.0.0.1:{_free_port()}")
        if not script.strip():
            continue
        # Multi-host blocks run with one device per process, a GPU cluster's usual layout.
        devices = 1 if "distributed.enabled" in script else 2
        out = subprocess.run(["bash", "-ec", script + "\nwait"], cwd=checkout, capture_output=True, text=True,
                             env=dict(env, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}"), timeout=1200)
        assert out.returncode == 0, f"README block {i} failed:\n{script}\n--- stderr ---\n{out.stderr[-4000:]}"
    for block in readme_blocks("python"):
        out = subprocess.run([sys.executable, "-c", _shrink_all(block)], cwd=checkout, env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, f"README python block failed:\n{block}\n{out.stderr[-3000:]}"
    # What the blocks made is there: the main job's report, a trained pipeline, the ladder report.
    report = (checkout / "runs" / "main" / "results.md").read_bytes()
    again = subprocess.run([sys.executable, "-m", "experiments.main", *TINY["scripts/install_and_run.sh"].split(),
                            "--from_results"], cwd=checkout, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (checkout / "runs" / "main" / "results.md").read_bytes() == report  # from summaries.json alone
    assert (checkout / "runs" / "ladder" / "results.json").exists()
    assert (checkout / "runs" / "ladder" / "ladder_clean.png").exists()  # the ladder commands: both conditions
    assert (checkout / "runs" / "ladder" / "ladder_budget.png").exists()  # and the budget curve
    assert (checkout / "runs" / "laom_decoder" / "checkpoints").is_dir()
    assert (checkout / "runs" / "laom_labels_paper" / "report.json").exists()  # trained on the imported data
    assert (checkout / "runs" / "laom_paper" / "report.json").exists()  # trained on the .hdf5 file
