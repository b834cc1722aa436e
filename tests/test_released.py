"""The paper's released HDF5 layout: import to TFDS (bit-exact, resumable after kill -9, clear
errors on bad files) and training on the imported dataset and on the file directly."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from configs import common, laom_labels
from data_pipeline import import_hdf5, released, rlds_dataset
from data_pipeline import synthetic_released as synth
from lam_jax import errors
from lam_jax.data.episodes import DatasetEpisodes
from lam_jax.training.loop import TIMING_KEYS
from lam_jax.stages import pretrain

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# humanoid-walk's sizes: 21 actions, 67 state dimensions
HUMANOID = dict(length=40, image_size=32, state_dim=67, action_dim=21, task="humanoid-walk")


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """12 training trajectories (more than 10, so name order differs from numeric order),
    3 eval, labeled files of 2 and 4 written without track_order."""
    folder = tmp_path_factory.mktemp("release")
    return synth.write_release(str(folder), 12, 3, labeled=(2, 4), **HUMANOID)


def _released(path):
    with h5py.File(path, "r") as f:
        return {int(k): ({n: f[k][n][:] for n in released.ARRAYS}, dict(f[k].attrs)) for k in f.keys()}


def test_import_round_trip_is_bit_exact(release, tmp_path):
    path = import_hdf5.import_release(release, str(tmp_path / "data"), num_shards=5)
    ds = rlds_dataset.TrajectoryDataset(path)
    assert ds.splits == ["eval", "train"]
    for split, file in (("train", release), ("eval", release.replace("-5k.", "-eval."))):
        source = _released(file)
        assert ds.num_episodes(split) == len(source)
        for i, (arrays, attrs) in source.items():  # episode i of the split is group "i", in numeric order
            ep = ds.episode(split, i)
            np.testing.assert_array_equal(ep["image"], arrays["obs"])
            np.testing.assert_array_equal(ep["state"], arrays["states"])
            np.testing.assert_array_equal(ep["raw_action"], arrays["actions"])
            np.testing.assert_array_equal(ep["action"], np.clip(arrays["actions"], -1, 1))
            assert ep["metadata"]["index"] == i and ep["metadata"]["return"] == np.float32(attrs["traj_return"])
            assert ep["is_first"][0] and ep["is_last"][-1] and ep["is_last"].sum() == 1
    assert np.abs(ds.episode("train", 0)["raw_action"]).max() > 1  # raw actions kept beyond +-1
    # Labeled subsets are exactly the released labeled files' trajectories.
    for k in (2, 4):
        labeled = release.replace("-32px-5k.", f"-labeled-1000x{k}-32px.")
        originals = sorted(int(a["original_traj_idx"]) for _, a in _released(labeled).values())
        assert ds.labeled_indices(k) == originals
    assert ds.shapes() == {"length": 40, "image_size": 32, "state_dim": 67, "action_dim": 21}
    # The paper configs' action key ('reference') reads the released actions, as does the direct reader.
    imported = DatasetEpisodes(path, "train").load(range(12))
    direct = DatasetEpisodes(release, "train").load(range(12))
    for name in ("frames", "actions", "states"):
        np.testing.assert_array_equal(getattr(imported, name), getattr(direct, name))
    # A second import reuses the dataset.
    assert import_hdf5.import_release(release, str(tmp_path / "data"), num_shards=5) == path


def test_name_order_and_numeric_order_give_the_same_trajectories(tmp_path):
    dims = dict(length=12, image_size=16, state_dim=5, action_dim=6)
    a = synth.write_file(str(tmp_path / "a.hdf5"), 12, track_order=True, **dims)
    b = synth.write_file(str(tmp_path / "b.hdf5"), 12, track_order=False, **dims)
    with h5py.File(b, "r") as f:
        assert list(f.keys())[:3] == ["0", "1", "10"]  # what the released labeled files list
    ea = DatasetEpisodes(a, "train").load(range(12))
    eb = DatasetEpisodes(b, "train").load(range(12))
    np.testing.assert_array_equal(ea.frames, eb.frames)
    np.testing.assert_array_equal(ea.actions, eb.actions)


def _break(path, how):
    with h5py.File(path, "r+") as f:
        if how == "missing key":
            del f["3"]["states"]
        elif how == "wrong dtype":
            del f["3"]["actions"]
            f["3"].create_dataset("actions", data=np.zeros((40, 21), np.float64))
        elif how == "truncated trajectory":
            obs = f["3"]["obs"][:30]
            del f["3"]["obs"]
            f["3"].create_dataset("obs", data=obs)
        elif how == "NaN action":
            f["3"]["actions"][17, 4] = np.nan
        elif how == "NaN in the last trajectory":
            f["5"]["states"][39, 0] = np.inf


@pytest.mark.parametrize("how, match", [
    ("missing key", r"trajectory 3: missing dataset 'states'"),
    ("wrong dtype", r"trajectory 3: 'actions' is float64, expected float32"),
    ("truncated trajectory", r"trajectory 3: lengths differ: obs 30, states 40"),
    ("NaN action", r"trajectory 3: 'actions' holds non-finite values \(first at step 17"),
    ("NaN in the last trajectory", r"trajectory 5: 'states' holds non-finite values \(first at step 39"),
    ("cheetah actions", r"actions of 6 dimensions, but humanoid-walk has 21"),
    ("not HDF5", r"is not an HDF5 file"),
    ("cut download", r"truncated; download it again"),
])
def test_bad_files_give_clear_errors_and_write_nothing(tmp_path, how, match):
    train = synth.write_file(str(tmp_path / "bad.hdf5"), 6, **HUMANOID)
    if how == "cheetah actions":
        train = synth.write_file(train, 6, **dict(HUMANOID, action_dim=6))
    if how == "not HDF5":
        with open(train, "w") as f:
            f.write("<html>403 Forbidden</html>")
    elif how == "cheetah actions":
        pass
    elif how == "cut download":
        with open(train, "r+b") as f:
            f.truncate(os.path.getsize(train) - 100_000)
    else:
        _break(train, how)
    data_dir = tmp_path / "data"
    with pytest.raises(released.ReleasedFileError, match=match) as err:
        import_hdf5.import_release(train, str(data_dir), eval_path="", labeled_paths=())
    assert "bad.hdf5" in str(err.value)
    assert not data_dir.exists()  # nothing written, not even a folder


def test_labeled_file_of_another_dataset_is_refused(release, tmp_path):
    other = synth.write_file(str(tmp_path / "other.hdf5"), 2, seed=7, track_order=False, originals=[0, 5],
                             **HUMANOID)
    with pytest.raises(released.ReleasedFileError, match=r"other.hdf5, trajectory 0: 'states' differ from trajectory"):
        released.ReleasedFiles(release, labeled_paths=[other])


def _shards(path):
    return {os.path.basename(p): open(p, "rb").read() for p in sorted(glob.glob(os.path.join(path, "*array_record*")))}


@pytest.mark.slow
def test_import_after_kill9_gives_the_same_dataset(tmp_path):
    train = synth.write_release(str(tmp_path / "release"), 24, 0, labeled=(2,), length=200, image_size=64)
    reference = import_hdf5.import_release(train, str(tmp_path / "ref"), num_shards=24)
    cmd = [sys.executable, "-m", "experiments.import_hdf5", f"--train={train}", f"--data_dir={tmp_path / 'data'}",
           "--workers=2", "--num_shards=24"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    done = str(tmp_path / "data" / "**" / ".shards_done" / "*.json")
    deadline = time.time() + 120
    while len(glob.glob(done, recursive=True)) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the parent only: its writer processes must die with it
    proc.wait()
    written = len(glob.glob(done, recursive=True))
    assert 3 <= written < 24, written
    time.sleep(1.0)
    assert not subprocess.run(["pgrep", "-f", f"data_dir={tmp_path / 'data'}"], capture_output=True).stdout
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    path = out.stdout.strip().splitlines()[-1].split("dataset: ")[1]
    assert _shards(path) == _shards(reference)
    assert not glob.glob(os.path.join(path + "*", "**", "*.tmp*"), recursive=True)


@pytest.mark.slow
def test_a_killed_writer_process_is_one_line_at_once(tmp_path):
    train = synth.write_release(str(tmp_path / "release"), 24, 0, labeled=(2,), length=200, image_size=64)
    cmd = [sys.executable, "-m", "experiments.import_hdf5", f"--train={train}", f"--data_dir={tmp_path / 'data'}",
           "--workers=2", "--num_shards=24"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    done = str(tmp_path / "data" / "**" / ".shards_done" / "*.json")
    deadline = time.time() + 120
    while len(glob.glob(done, recursive=True)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    children = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "spawn_main"], capture_output=True,
                              text=True).stdout.split()
    workers = [int(pid) for pid in children if "resource_tracker" not in open(f"/proc/{pid}/cmdline").read()]
    assert len(workers) == 2, children
    os.kill(workers[0], signal.SIGKILL)  # the other writer goes on ticking
    killed = time.time()
    _, err = proc.communicate(timeout=60)
    assert time.time() - killed < 5 and proc.returncode != 0
    last = [x for x in err.replace("\r", "\n").splitlines() if x.strip()][-1]
    assert last.startswith(f"error: a writer process (pid {workers[0]}) was killed by SIGKILL before it finished; "
                           "finished shards are kept in "), err[-2000:]
    assert "Traceback" not in err


def _pretrain(path, workdir, **extra):
    cfg = common.override(laom_labels.get_config("smoke"), ["num_steps=6", "log_every=3", "save_every=6",
                                                            "data.image_size=32"])
    cfg.data.path, cfg.workdir, cfg.eval_split = path, str(workdir), "eval"
    for key, value in extra.items():
        cfg.data[key] = value
    return pretrain.run(cfg, progress=False)


def test_pretraining_on_the_imported_dataset_and_on_the_file_agree(release, tmp_path):
    path = import_hdf5.import_release(release, str(tmp_path / "data"))
    on_file = _pretrain(release, tmp_path / "file")
    on_import = _pretrain(path, tmp_path / "import")
    def learned(report):  # everything but the timing
        return {k: v for k, v in report["final_metrics"].items() if k not in TIMING_KEYS}
    assert learned(on_file) == learned(on_import)  # same episodes, same batches, bit for bit
    assert np.isfinite(learned(on_file)["loss"])
    assert on_file["held_out"] == on_import["held_out"]  # the eval file was found beside the training file


def test_streaming_from_the_file_and_explicit_paths(release, tmp_path):
    folder = os.path.dirname(release)
    eval_file = os.path.join(folder, "humanoid-walk-scale-easy-video-hard-32px-eval.hdf5")
    labeled = os.path.join(folder, "humanoid-walk-scale-easy-video-hard-labeled-1000x2-32px.hdf5")
    renamed = str(tmp_path / "train.hdf5")  # not a released name: nothing beside it is found
    os.symlink(release, renamed)
    with pytest.raises(KeyError, match="no labeled file of 2 trajectories"):
        _pretrain(renamed, tmp_path / "none")
    report = _pretrain(renamed, tmp_path / "stream", streaming=True, buffer_episodes=4, buffer_steps=3,
                       eval_path=eval_file, labeled_paths=labeled)
    assert np.isfinite(report["final_metrics"]["loss"]) and "held_out" in report


def test_a_resumed_import_with_other_shard_sizes_loses_nothing(release, tmp_path, monkeypatch):
    original, calls = import_hdf5.ReleasedSource.example, []

    def crash_after_7(self, split, index):
        calls.append(index)
        if len(calls) > 7:
            raise KeyboardInterrupt
        return original(self, split, index)
    monkeypatch.setattr(import_hdf5.ReleasedSource, "example", crash_after_7)
    with pytest.raises(KeyboardInterrupt):
        import_hdf5.import_release(release, str(tmp_path / "data"), num_shards=6)  # 3 shards of 2 done
    monkeypatch.undo()
    path = import_hdf5.import_release(release, str(tmp_path / "data"), num_shards=4)  # shards of 3
    reference = import_hdf5.import_release(release, str(tmp_path / "ref"), num_shards=4)
    assert _shards(path) == _shards(reference) and len(_shards(path)) == 4 + 3  # train and eval, nothing stale
    assert sorted(os.listdir(path)) == sorted(os.listdir(reference))  # no markers, claim or lock left


def test_a_second_writer_stops_at_once(tmp_path):
    from lam_jax.training import run_dir
    with run_dir.exclusive(str(tmp_path)):
        with pytest.raises(RuntimeError, match=rf"another process \(pid {os.getpid()} on \S+\) is writing"):
            with run_dir.exclusive(str(tmp_path)):
                pass


def test_evaluating_released_data_needs_davis_or_says_procedural(release):
    from configs import downstream as downstream_configs
    from lam_jax.stages import downstream
    metadata = released.ReleasedFiles(release).metadata
    dcfg = downstream_configs.get_config("smoke")
    with pytest.raises(ValueError, match="rendered on DAVIS videos: evaluate with --config.eval.davis_path"):
        downstream.eval_env(metadata, dcfg)
    dcfg.eval.davis_path = "/data/DAVIS"
    env = downstream.eval_env(metadata, dcfg)
    assert (env.task, env.preset, env.davis_path, env.render_quality) == (
        "humanoid-walk", "scale_easy_video_hard", "/data/DAVIS", "paper")
    dcfg.eval.davis_path, dcfg.eval.allow_procedural = "", True
    assert downstream.eval_env(metadata, dcfg).davis_path is None


def test_vanilla_release_without_eval_file_and_files_that_are_not_datasets(tmp_path):
    from experiments import datasets
    train = synth.write_release(str(tmp_path), 4, 0, labeled=(2,), difficulty="vanilla", **HUMANOID)
    assert os.path.basename(train) == "humanoid-walk-vanilla-32px-5k.hdf5"
    files = released.ReleasedFiles(train)
    assert files.splits == ["train"] and files.labeled_indices(2) and files.metadata["preset"] == "vanilla"
    with pytest.raises(errors.ConfigError, match="the ladder reports held-out probes on the eval split"):
        datasets.require_eval_split(train, "the ladder")
    cfg = laom_labels.get_config("smoke")
    cfg.data.path = str(tmp_path / "notes.txt")
    open(cfg.data.path, "w").close()
    with pytest.raises(ValueError, match="is a file but not a released .hdf5/.h5 file"):
        pretrain.validate_data_config(cfg.data)


def test_values_are_checked_once_up_front_and_remembered(tmp_path, monkeypatch):
    """A NaN in the last trajectory is named when the file is opened, before any trajectory is read;
    a clean file's check is remembered beside it while its size and mtime stay."""
    os.makedirs(tmp_path / "bad")
    bad = synth.write_file(str(tmp_path / "bad" / "x.hdf5"), 6, **HUMANOID)
    _break(bad, "NaN in the last trajectory")
    with pytest.raises(released.ReleasedFileError, match=r"x.hdf5, trajectory 5: 'states' holds non-finite"):
        released.ReleasedFiles(bad, eval_path="", labeled_paths=())
    assert not (tmp_path / "bad" / released.VALUES_CHECKED).exists()
    good = synth.write_file(str(tmp_path / "good.hdf5"), 6, **HUMANOID)
    released.ReleasedFiles(good, eval_path="", labeled_paths=())
    record = json.loads((tmp_path / released.VALUES_CHECKED).read_text())
    assert record == {"good.hdf5": [os.path.getsize(good), os.stat(good).st_mtime_ns]}
    released._STRUCTURE_CACHE.clear()  # another process: only the record beside the file remains

    def no_reads(*args):
        raise AssertionError("values read again")
    monkeypatch.setattr(released, "check_values", no_reads)
    released.ReleasedFiles(good, eval_path="", labeled_paths=())
