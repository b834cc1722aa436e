"""The paper's released HDF5 datasets (dunnolab/laom ``data-links.txt``): checks and reading.

Layout, from the reference's writers (``scripts/data_collection/collect_data.py``,
``scripts/sample_labeled_data.py``): file attributes ``domain_name``, ``task_name``,
``difficulty`` ('scale_easy_video_hard' or 'vanilla'), ``dynamic``, ``img_hw``, ``split``; one
group per trajectory named "0".."N-1" with attribute ``traj_return`` (labeled files also
``original_traj_idx``, the trajectory's index in the 5k file) and datasets ``obs`` uint8
(T, H, W, 3), ``states`` float32 (T, S) and ``actions`` float32 (T, A), where ``actions[t]`` is
the policy's raw output at ``obs[t]`` (unclipped for the PPO experts) and there is no terminal
frame. Labeled files were written without ``track_order``, so h5py lists their groups in name
order ("0", "1", "10", ...): trajectories are always ordered numerically here.

``ReleasedFiles`` reads a training file with its eval and labeled files the way
``rlds_dataset.TrajectoryDataset`` reads a built dataset (same episode dicts and metadata), so
every stage trains on a released file directly, and ``import_hdf5`` converts one. Only h5py and
NumPy are needed.
"""
from __future__ import annotations

import hashlib
import os
import re
import threading

import numpy as np
from tqdm.auto import tqdm

from lam_jax.training import run_dir

TASKS = ("cheetah-run", "walker-run", "hopper-hop", "humanoid-walk")
ACTION_DIMS = {"cheetah-run": 6, "walker-run": 6, "hopper-hop": 4, "humanoid-walk": 21}  # dm_control's action specs
DIFFICULTIES = ("scale_easy_video_hard", "vanilla")
FILE_ATTRS = ("domain_name", "task_name", "difficulty", "img_hw")
ARRAYS = {"obs": np.uint8, "states": np.float32, "actions": np.float32}
_TRAIN_NAME = re.compile(r"(?P<stem>.+)-(?P<px>\d+px)-5k\.(?P<ext>hdf5|h5)$")


class ReleasedFileError(ValueError):
    """A released file fails a check; the message names the file, the trajectory and the problem."""


def is_hdf5_path(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in (".hdf5", ".h5")


def sibling_files(train_path: str) -> tuple[str, dict[int, str]]:
    """The eval and labeled files beside a training file, found by the released names:
    ``{task}-{difficulty}-64px-5k.hdf5`` -> ``...-64px-eval.hdf5`` and
    ``{task}-{difficulty}-labeled-1000x{k}-64px.hdf5``; ('', {}) when the name is not released."""
    folder, name = os.path.split(os.path.abspath(train_path))
    m = _TRAIN_NAME.fullmatch(name)
    if not m:
        return "", {}
    eval_path = os.path.join(folder, f"{m['stem']}-{m['px']}-eval.{m['ext']}")
    labeled = {}
    pattern = re.compile(re.escape(m["stem"]) + r"-labeled-\d+x(\d+)-" + re.escape(m["px"]) + r"\." + m["ext"])
    for other in sorted(os.listdir(folder)):
        lm = pattern.fullmatch(other)
        if lm:
            labeled[int(lm.group(1))] = os.path.join(folder, other)
    return (eval_path if os.path.isfile(eval_path) else ""), labeled


def _open(path: str):
    import h5py
    if not os.path.isfile(path):
        raise FileNotFoundError(f"released file {path!r} does not exist")
    if not h5py.is_hdf5(path):
        raise ReleasedFileError(f"{path} is not an HDF5 file (an interrupted download, or another format?)")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        hint = " (the file is truncated; download it again)" if "truncated" in str(e) else ""
        raise ReleasedFileError(f"{path} cannot be opened: {e}{hint}") from None


def _attr(value):
    if isinstance(value, bytes):
        return value.decode()
    return value.item() if isinstance(value, np.generic) else value


def trajectory_keys(f, path: str) -> list[str]:
    """Group names "0".."N-1" in numeric order (whatever order the file lists them in)."""
    names = list(f.keys())
    bad = [n for n in names if not n.isdigit()]
    if bad or not names:
        raise ReleasedFileError(f"{path}: trajectories must be groups named 0..N-1; found "
                                f"{bad[:5] if bad else 'no groups'}")
    order = sorted(names, key=int)
    if [int(n) for n in order] != list(range(len(order))):
        missing = sorted(set(range(len(order))) - {int(n) for n in order})[:5]
        raise ReleasedFileError(f"{path}: trajectory groups are not 0..{len(order) - 1}; missing {missing}")
    return order


def _check_storage(ds, file_size: int, where: str) -> None:
    """A dataset whose bytes lie beyond the end of the file was cut off (a truncated download)."""
    if ds.chunks is None:  # contiguous
        offset = ds.id.get_offset()
        if offset is None:
            if ds.size:
                raise ReleasedFileError(f"{where}: no data stored (the writer was stopped before writing it)")
            return
        end = offset + ds.id.get_storage_size()
    else:
        chunks = [ds.id.get_chunk_info(i) for i in range(ds.id.get_num_chunks())]
        end = max((c.byte_offset + c.size for c in chunks), default=0)
    if end > file_size:
        raise ReleasedFileError(f"{where}: data ends at byte {end}, beyond the file's {file_size} bytes "
                                "(the file is truncated; download it again)")


def check_structure(f, path: str, labeled: bool = False) -> dict:
    """Attributes, groups, keys, dtypes and shapes of every trajectory, and storage within the file;
    reads no frames. Returns length, image_size, state_dim, action_dim and the file attributes."""
    attrs = {k: _attr(v) for k, v in f.attrs.items()}
    missing = [a for a in FILE_ATTRS if a not in attrs]
    if missing:
        raise ReleasedFileError(f"{path}: missing file attributes {missing} (has {sorted(attrs)})")
    if attrs["difficulty"] not in DIFFICULTIES:
        raise ReleasedFileError(f"{path}: unknown difficulty {attrs['difficulty']!r}; expected one of {DIFFICULTIES}")
    task = f"{attrs['domain_name']}-{attrs['task_name']}"
    if task not in TASKS:
        raise ReleasedFileError(f"{path}: unknown task {task!r}; expected one of {TASKS}")
    size, hw, shape = os.path.getsize(path), int(attrs["img_hw"]), None
    for key in trajectory_keys(f, path):
        group, where = f[key], f"{path}, trajectory {key}"
        for name, dtype in ARRAYS.items():
            if name not in group:
                raise ReleasedFileError(f"{where}: missing dataset {name!r} (has {sorted(group.keys())})")
            if group[name].dtype != dtype:
                raise ReleasedFileError(f"{where}: {name!r} is {group[name].dtype}, expected {np.dtype(dtype)}")
            _check_storage(group[name], size, f"{where}, {name!r}")
        obs, states, actions = (group[n].shape for n in ARRAYS)
        if len(obs) != 4 or obs[1:] != (hw, hw, 3) or len(states) != 2 or len(actions) != 2:
            raise ReleasedFileError(f"{where}: shapes obs {obs}, states {states}, actions {actions}; expected "
                                    f"(T, {hw}, {hw}, 3), (T, S), (T, A)")
        if not obs[0] == states[0] == actions[0]:
            raise ReleasedFileError(f"{where}: lengths differ: obs {obs[0]}, states {states[0]}, actions "
                                    f"{actions[0]} (a truncated trajectory)")
        this = (obs[0], states[1], actions[1])
        if shape is None:
            shape = this
        elif this != shape:
            raise ReleasedFileError(f"{where}: (length, state_dim, action_dim) = {this}, but trajectory 0 has "
                                    f"{shape} (a truncated trajectory?)")
        if labeled and "original_traj_idx" not in group.attrs:
            raise ReleasedFileError(f"{where}: a labeled file's trajectory needs attribute 'original_traj_idx'")
    if shape[0] < 2:
        raise ReleasedFileError(f"{path}: trajectories of {shape[0]} frames; at least 2 are needed")
    if shape[2] != ACTION_DIMS[task]:
        raise ReleasedFileError(f"{path}: actions of {shape[2]} dimensions, but {task} has {ACTION_DIMS[task]}")
    return {"length": int(shape[0]), "image_size": hw, "state_dim": int(shape[1]), "action_dim": int(shape[2]),
            "attrs": attrs, "num_trajectories": len(f.keys())}


def check_values(arrays: dict, where: str) -> None:
    for name in ("states", "actions"):
        bad = ~np.isfinite(arrays[name])
        if bad.any():
            t = int(np.argwhere(bad)[0][0])
            raise ReleasedFileError(f"{where}: {name!r} holds non-finite values (first at step {t}: "
                                    f"{arrays[name][t].tolist()})")


VALUES_CHECKED = ".lam_jax_values_checked.json"  # beside the file: {file name: [size, mtime_ns]}


def check_all_values(path: str, f) -> None:
    """Every trajectory's states and actions finite, checked once up front (frames are uint8: always
    finite), streaming one trajectory at a time with a progress bar, and remembered beside the file
    (or in ~/.cache/lam_jax where its folder is read-only) for as long as its size and mtime stay."""
    _, size, mtime = _identity(path)
    name = os.path.basename(path)
    records = [os.path.join(os.path.dirname(os.path.abspath(path)), VALUES_CHECKED),
               os.path.join(os.path.expanduser("~"), ".cache", "lam_jax", "values_checked",
                            hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:16] + ".json")]
    for record in records:
        try:
            if run_dir.read_json(record).get(name) == [size, mtime]:
                return
        except (OSError, ValueError, AttributeError):
            pass
    keys = trajectory_keys(f, path)
    for key in tqdm(keys, desc=f"check {name}", unit="traj", disable=len(keys) < 100, leave=False):
        check_values({n: f[key][n][:] for n in ("states", "actions")}, f"{path}, trajectory {key}")
    for record in records:  # the first that can be written
        try:
            try:
                done = run_dir.read_json(record)
            except (OSError, ValueError):
                done = {}
            run_dir.write_json(record, {**done, name: [size, mtime]})
            return
        except OSError:
            continue


def as_episode(arrays: dict, index: int, traj_return: float) -> dict:
    """A released trajectory as the project's episode dict (rlds_dataset step keys)."""
    n = len(arrays["obs"])
    return {"image": arrays["obs"], "state": arrays["states"],
            "raw_action": arrays["actions"],  # as released: the action key the paper configs train on
            "action": np.clip(arrays["actions"], -1.0, 1.0),  # what the environment executed (ClipAction)
            "reward": np.full(n, np.nan, np.float32),  # not released: only each trajectory's return is
            "discount": np.ones(n, np.float32), "is_first": np.arange(n) == 0, "is_last": np.arange(n) == n - 1,
            "is_terminal": np.zeros(n, bool),
            "meta_index": index, "meta_seed": -1, "meta_return": np.float32(traj_return), "meta_video": ""}


# Checks are costly on a 5000-trajectory file and stages open it several times: done once per
# process for each file as it is on disk (path, size, modification time).
_STRUCTURE_CACHE: dict = {}
_LABELED_CACHE: dict = {}


def _identity(path: str) -> tuple:
    st = os.stat(path)
    return os.path.abspath(path), st.st_size, st.st_mtime_ns


def _checked(path: str, f) -> dict:
    key = _identity(path)
    if key not in _STRUCTURE_CACHE:
        _STRUCTURE_CACHE[key] = check_structure(f, path)
        check_all_values(path, f)  # a NaN in trajectory 4000 is named now, not hours into training
    return _STRUCTURE_CACHE[key]


class ReleasedFiles:
    """A released training file with its eval file (split 'eval') and labeled files, read in place.

    ``eval_path``/``labeled_paths`` default to the files beside ``train_path`` with the released
    names; '' / () for none. Structure and values are checked when first opened (values once per
    file as it is on disk, check_all_values), and values again as each trajectory is read.
    Picklable (paths only), so writer processes open their own handles.
    """

    def __init__(self, train_path: str, eval_path: str | None = None, labeled_paths=None):
        found_eval, found_labeled = sibling_files(train_path)
        self.path = train_path
        self.files = {"train": train_path}
        eval_path = found_eval if eval_path is None else eval_path
        if eval_path:
            self.files["eval"] = eval_path
        self.labeled_paths = list(found_labeled.values()) if labeled_paths is None else list(labeled_paths)
        self._handles, self._lock = {}, threading.Lock()
        self.info = {split: _checked(p, self.handle(split)) for split, p in self.files.items()}
        train = self.info["train"]
        for split, info in self.info.items():
            for key in ("length", "image_size", "state_dim", "action_dim"):
                if info[key] != train[key]:
                    raise ReleasedFileError(f"{self.files[split]}: {key} {info[key]} differs from the training "
                                            f"file's {train[key]} ({train_path})")
        self.metadata = self._metadata(train)
        key = (_identity(train_path), tuple(_identity(p) for p in self.labeled_paths))
        if key not in _LABELED_CACHE:
            _LABELED_CACHE[key] = {str(k): v for k, v in sorted(self._labeled_subsets().items())}
        self.metadata["labeled_subsets"] = _LABELED_CACHE[key]

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("_handles", "_lock")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._handles, self._lock = {}, threading.Lock()

    def handle(self, split: str):
        """The open h5py file of a split (opened once per process)."""
        if split not in self.files:
            raise KeyError(f"{self.path} has no split {split!r}; it has {self.splits}")
        with self._lock:
            if split not in self._handles:
                self._handles[split] = _open(self.files[split])
            return self._handles[split]

    def _metadata(self, train: dict) -> dict:
        a = train["attrs"]
        task = f"{a['domain_name']}-{a['task_name']}"
        # Rendered at MuJoCo's default quality (shadows, multisampling) on DAVIS videos not named here.
        env = {"task": task, "preset": a["difficulty"], "image_size": train["image_size"], "split": "train",
               "render_quality": "paper"}
        settings = {"env": env, "num_train": train["num_trajectories"],
                    "num_eval": self.info["eval"]["num_trajectories"] if "eval" in self.info else 0,
                    "num_steps": train["length"], "seed": None, "source": "released hdf5"}
        return {"settings": settings, "domain": a["domain_name"], "task": a["task_name"], "preset": a["difficulty"],
                "episode_length": train["length"], "released_attrs": {k: str(v) for k, v in a.items()},
                "reference_action_key": "raw_action",  # the released actions, whatever the expert
                "reward": "not in the released files (NaN per step); episode_metadata.return is the trajectory's"}

    def _labeled_subsets(self) -> dict[int, list[int]]:
        """Each labeled file's trajectories as indices of the training file (``original_traj_idx``),
        checked to be the same trajectories (equal states and actions)."""
        subsets, num_train, train = {}, self.info["train"]["num_trajectories"], self.handle("train")
        for path in self.labeled_paths:
            with _open(path) as f:
                check_structure(f, path, labeled=True)
                indices = []
                for key in trajectory_keys(f, path):
                    raw, where = _attr(f[key].attrs["original_traj_idx"]), f"{path}, trajectory {key}"
                    try:
                        idx = int(raw)
                    except (TypeError, ValueError):
                        raise ReleasedFileError(f"{where}: original_traj_idx {raw!r} is not an integer") from None
                    if not 0 <= idx < num_train:
                        raise ReleasedFileError(f"{where}: original_traj_idx {idx} is outside the training file's "
                                                f"0..{num_train - 1} ({self.path})")
                    for name in ("states", "actions"):
                        if not np.array_equal(f[key][name][:], train[str(idx)][name][:], equal_nan=True):
                            raise ReleasedFileError(f"{where}: {name!r} differ from trajectory {idx} of {self.path}, "
                                                    "its original_traj_idx (a labeled file of another dataset?)")
                    indices.append(idx)
            if len(set(indices)) != len(indices):
                raise ReleasedFileError(f"{path}: original_traj_idx repeats a trajectory")
            k = len(indices)
            if k in subsets and sorted(indices) != subsets[k]:
                raise ReleasedFileError(f"{path}: a second labeled file of {k} trajectories, with other trajectories")
            subsets[k] = sorted(indices)
        return subsets

    # The TrajectoryDataset interface.
    @property
    def splits(self) -> list[str]:
        return sorted(self.files)

    def num_episodes(self, split: str) -> int:
        if split not in self.info:
            raise KeyError(f"{self.path} has no split {split!r}; it has {self.splits}")
        return self.info[split]["num_trajectories"]

    def read(self, split: str, index: int) -> tuple[dict, float]:
        """Trajectory ``index`` of a split: its arrays (values checked) and its return."""
        f = self.handle(split)
        key = str(index)
        if key not in f:
            raise IndexError(f"{self.files[split]} has no trajectory {index}")
        with self._lock:  # h5py serialises calls anyway; one reader at a time keeps reads sequential
            group = f[key]
            arrays = {name: group[name][:] for name in ARRAYS}
            ret = float(_attr(group.attrs.get("traj_return", np.nan)))
        check_values(arrays, f"{self.files[split]}, trajectory {key}")
        return arrays, ret

    def episode(self, split: str, index: int) -> dict:
        arrays, ret = self.read(split, index)
        ep = as_episode(arrays, index, ret)
        meta = {"index": index, "seed": -1, "return": ret, "domain": self.metadata["domain"],
                "task": self.metadata["task"], "difficulty": self.metadata["preset"], "background_video": ""}
        return {**{k: v for k, v in ep.items() if not k.startswith("meta_")}, "metadata": meta}

    def shapes(self) -> dict:
        return {k: self.info["train"][k] for k in ("length", "image_size", "state_dim", "action_dim")}

    def resolve_action_key(self, key: str) -> str:
        """'reference' -> 'raw_action', the released actions (the PPO experts' raw outputs; the
        SAC expert's actions, already within bounds)."""
        if key == "reference":
            return self.metadata["reference_action_key"]
        if key not in ("action", "raw_action"):
            raise ValueError(f"data.action_key must be 'reference', 'action' or 'raw_action', got {key!r}")
        return key

    def labeled_indices(self, k: int) -> list[int]:
        subsets = self.metadata["labeled_subsets"]
        if str(k) not in subsets:
            raise KeyError(f"no labeled file of {k} trajectories for {self.path}; found {sorted(map(int, subsets))} "
                           f"in {self.labeled_paths or 'none (give data.labeled_paths)'}")
        return list(subsets[str(k)])

    def close(self) -> None:
        with self._lock:
            for f in self._handles.values():
                f.close()
            self._handles.clear()
