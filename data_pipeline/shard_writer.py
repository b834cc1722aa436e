"""TFDS splits written shard by shard: bounded host memory, resumable after kill -9, parallel.

TFDS's own writer holds a split in memory until it writes the final shards (with shuffling
disabled every example falls in one bucket, which is read back whole), so a 61 GB split does not
fit an ordinary host. Here each shard is a fixed range of examples, serialised one example at a
time into a temporary file that is renamed when complete and then marked done; a done shard is
never written again, so a killed write resumes where it stopped and gives the same bytes. The
folder becomes a TFDS dataset (dataset_info.json, features.json, array_record shards that
``tfds.builder_from_directory``, ``as_data_source`` and grain read) only when every shard is done.

A writer's ``source`` is a picklable object with ``example(split, index) -> dict`` (the features'
unencoded example); worker processes (spawned) each open their own.
"""
from __future__ import annotations

import ctypes
import dataclasses
import json
import math
import multiprocessing as mp
import os
import queue
import shutil
import signal
import time
import traceback

from tqdm.auto import tqdm

from data_pipeline import quiet
from lam_jax.training.run_dir import LOCK_FILE, write_json

SHARD_BYTES = 1 << 28  # raw bytes of examples per shard: 250 shards for the 61 GB split, enough to share among writers
PROGRESS_DIR = ".shards_done"  # inside the unfinished folder; removed when the dataset is complete


@dataclasses.dataclass(frozen=True)
class SplitPlan:
    """``num_examples`` examples in shards of ``per_shard`` consecutive examples (the last one shorter)."""
    split: str
    num_examples: int
    per_shard: int

    @property
    def num_shards(self) -> int:
        return math.ceil(self.num_examples / self.per_shard)

    def examples(self, shard: int) -> range:
        return range(shard * self.per_shard, min((shard + 1) * self.per_shard, self.num_examples))

    def shard_lengths(self) -> list[int]:
        return [len(self.examples(s)) for s in range(self.num_shards)]


def plan_split(split: str, num_examples: int, example_bytes: int, shard_bytes: int = SHARD_BYTES,
               num_shards: int = 0) -> SplitPlan:
    """Shards of at most ``shard_bytes`` raw bytes, or ``num_shards`` shards if > 0."""
    if num_examples < 1:
        raise ValueError(f"split {split!r} has no examples to write")
    if num_shards > 0:
        return SplitPlan(split, num_examples, math.ceil(num_examples / min(num_shards, num_examples)))
    return SplitPlan(split, num_examples, max(1, min(num_examples, shard_bytes // max(example_bytes, 1))))


def shard_name(dataset_name: str, plan: SplitPlan, shard: int) -> str:
    """TFDS's default file name template: {DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}."""
    return f"{dataset_name}-{plan.split}.array_record-{shard:05d}-of-{plan.num_shards:05d}"


def _done_marker(folder: str, dataset_name: str, plan: SplitPlan, shard: int) -> str:
    return os.path.join(folder, PROGRESS_DIR, shard_name(dataset_name, plan, shard) + ".json")


def done_bytes(folder: str, dataset_name: str, plan: SplitPlan, shard: int) -> int | None:
    """Serialised bytes of a finished shard, or None if it must be (re)written (also when it was
    written for another range of examples, by a write with other shard sizes)."""
    marker = _done_marker(folder, dataset_name, plan, shard)
    if not (os.path.isfile(marker) and os.path.isfile(os.path.join(folder, shard_name(dataset_name, plan, shard)))):
        return None
    with open(marker) as f:
        done = json.load(f)
    examples = plan.examples(shard)
    if [done.get("start"), done.get("stop")] != [examples.start, examples.stop]:
        return None
    return int(done["num_bytes"])


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_shard(folder: str, dataset_name: str, features, plan: SplitPlan, shard: int, source, tick=None) -> int:
    """Writes one shard (temporary file, fsync, rename, then its done-marker); returns its bytes."""
    from array_record.python.array_record_module import ArrayRecordWriter
    from tensorflow_datasets.core import example_serializer
    serializer = example_serializer.ExampleSerializer(features.get_serialized_info())
    final = os.path.join(folder, shard_name(dataset_name, plan, shard))
    tmp = f"{final}.tmp{os.getpid()}"
    writer = ArrayRecordWriter(tmp, "group_size:1")  # TFDS's own setting: one record per chunk, random access
    num_bytes = 0
    try:
        for index in plan.examples(shard):
            example = serializer.get_tf_example(features.encode_example(source.example(plan.split, index)))
            record = example.SerializeToString(deterministic=True)  # map order fixed: same bytes in any process
            writer.write(record)
            num_bytes += len(record)
            if tick:
                tick()
        writer.close()
        _fsync(tmp)
        os.replace(tmp, final)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    examples = plan.examples(shard)
    write_json(_done_marker(folder, dataset_name, plan, shard),
                 {"num_bytes": num_bytes, "start": examples.start, "stop": examples.stop})
    return num_bytes


def remove_leftovers(folder: str, dataset_name: str, plans: list[SplitPlan]) -> None:
    """Temporary files of killed writers, and shards (with their markers) of a write planned with
    other shard sizes, which the dataset must not keep."""
    planned = {shard_name(dataset_name, p, s) for p in plans for s in range(p.num_shards)}
    for root, _, names in os.walk(folder):
        for name in names:
            shard = name[:-len(".json")] if root.endswith(PROGRESS_DIR) else name
            if ".tmp" in name or (".array_record-" in shard and shard not in planned):
                os.remove(os.path.join(root, name))


def write_splits(folder: str, dataset_name: str, make_features, plans: list[SplitPlan], source,
                 workers: int = 1, desc: str = "write") -> dict[str, int]:
    """Writes every shard of ``plans`` not yet done into ``folder``; returns each split's bytes.

    ``make_features()`` builds the TFDS FeaturesDict (picklable: workers call it themselves).
    """
    os.makedirs(os.path.join(folder, PROGRESS_DIR), exist_ok=True)
    remove_leftovers(folder, dataset_name, plans)
    totals = {p.split: 0 for p in plans}
    todo = []
    for p in plans:
        for s in range(p.num_shards):
            done = done_bytes(folder, dataset_name, p, s)
            if done is None:
                todo.append((p, s))
            else:
                totals[p.split] += done
    total = sum(p.num_examples for p in plans)
    remaining = sum(len(p.examples(s)) for p, s in todo)
    bar = tqdm(total=total, initial=total - remaining, desc=desc, unit="ep", dynamic_ncols=True)
    try:
        if workers <= 1 or len(todo) <= 1:
            features = make_features()
            for p, s in todo:
                totals[p.split] += write_shard(folder, dataset_name, features, p, s, source, lambda: bar.update(1))
        else:
            for split, num_bytes in _write_in_workers(folder, dataset_name, make_features, todo, source,
                                                      min(workers, len(todo)), bar):
                totals[split] += num_bytes
    finally:
        bar.close()
    return totals


def _die_with_parent() -> None:
    """A worker whose parent is killed (kill -9) stops too, so a re-run never races it (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker(index, folder, dataset_name, make_features, jobs, source, messages) -> None:
    _die_with_parent()
    quiet.silence_known_noise()
    try:
        features = make_features()
        for p, s in jobs:
            num_bytes = write_shard(folder, dataset_name, features, p, s, source, lambda: messages.put(("tick",)))
            messages.put(("shard", p.split, num_bytes))
    except BaseException as e:  # reported to the parent, which raises it
        messages.put(("error", f"{type(e).__name__}: {e}", traceback.format_exc()))
    finally:
        messages.put(("exit", index))


class WorkerError(RuntimeError):
    """A writer process failed or died; the finished shards stay, so the same command resumes."""


def _death(exitcode: int) -> str:
    if exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


def _write_in_workers(folder, dataset_name, make_features, todo, source, workers, bar):
    ctx = mp.get_context("spawn")  # no fork beside the parent's threads
    messages = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(w, folder, dataset_name, make_features, todo[w::workers], source,
                                               messages), daemon=True) for w in range(workers)]
    for proc in procs:
        proc.start()
    exited = set()  # workers that said they are done (a crash after that loses nothing)
    dead_since = None
    resume = f"finished shards are kept in {folder}; the same command resumes"
    try:
        while len(exited) < len(procs):
            try:
                msg = messages.get(timeout=0.5)
            except queue.Empty:
                msg = None
            # Checked on every message too: the other workers' ticks must not hide a dead one. A second's
            # grace lets a worker's last messages, sent before it died, arrive first.
            dead = [p for i, p in enumerate(procs) if i not in exited and p.exitcode not in (None, 0)]
            dead_since = (dead_since or time.monotonic()) if dead else None
            if dead and time.monotonic() - dead_since > 1.0 and (msg is None or msg[0] != "error"):
                raise WorkerError(f"a writer process (pid {dead[0].pid}) {_death(dead[0].exitcode)} before it "
                                  f"finished; {resume}")
            if msg is None:
                continue
            if msg[0] == "tick":
                bar.update(1)
            elif msg[0] == "shard":
                yield msg[1], msg[2]
            elif msg[0] == "error":
                detail = ("\n" + msg[2]) if os.environ.get("LAM_JAX_VERBOSE") else " (LAM_JAX_VERBOSE=1 shows where)"
                raise WorkerError(f"a writer process failed: {msg[1]}; {resume}{detail}")
            else:
                exited.add(msg[1])
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()


def finish(folder: str, final: str, info, plans: list[SplitPlan], split_bytes: dict[str, int],
           remove=()) -> str:
    """Writes the TFDS metadata (``info``: the dataset's DatasetInfo), moves ``folder`` to ``final``,
    then removes the progress markers and the files named in ``remove``. Killed before the move, a
    re-run finds every shard done and finishes; after it, the dataset is complete."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import naming
    splits = []
    for p in plans:
        template = naming.ShardedFileTemplate(data_dir=final, dataset_name=info.name, split=p.split,
                                              filetype_suffix="array_record")
        splits.append(tfds.core.SplitInfo(name=p.split, shard_lengths=p.shard_lengths(),
                                          num_bytes=split_bytes[p.split], filename_template=template))
    info.set_splits(tfds.core.SplitDict(splits))
    info.set_file_format("array_record", override=True)
    for p in plans:  # every shard named in the metadata must be there
        for s in range(p.num_shards):
            if not os.path.isfile(os.path.join(folder, shard_name(info.name, p, s))):
                raise FileNotFoundError(f"shard {s} of split {p.split!r} missing in {folder}")
    info.write_to_directory(folder)
    os.makedirs(os.path.dirname(final), exist_ok=True)
    os.replace(folder, final)
    shutil.rmtree(os.path.join(final, PROGRESS_DIR), ignore_errors=True)
    for name in (*remove, LOCK_FILE):
        if os.path.exists(os.path.join(final, name)):
            os.remove(os.path.join(final, name))
    return final
