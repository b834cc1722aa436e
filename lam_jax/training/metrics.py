"""Metrics: JSON lines on disk (one object per logged step), read back for plots and reports, and
the writer every stage logs through (JSON lines, TensorBoard, wandb)."""
from __future__ import annotations

import json
import os
import uuid

import numpy as np


def read_jsonl(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# Where a stage's metrics go besides metrics.jsonl; configs/common.py ``log_config`` is built from it.
LOG_DEFAULTS = {
    "tensorboard": True,  # event files in WORKDIR/tensorboard: tensorboard --logdir runs/
    "wandb": False,  # a wandb run (needs `pip install wandb`)
    "wandb_project": "lam-jax",
    "wandb_mode": "offline",  # 'offline' needs no network (`wandb sync` uploads later); 'online'
    "images_every": 0,  # steps between image logs (LAPO's predicted frames, LAOM's views); 0: save_every
}


def log_settings(cfg) -> dict | None:
    """A run config's ``log`` group as the writer takes it (None for configs made before it existed)."""
    log = cfg.get("log")
    return log.to_dict() if log else None


class MetricWriter:
    """A stage's metrics, written by process 0: metrics.jsonl (always), TensorBoard event files in
    WORKDIR/tensorboard (``log.tensorboard``, on by default; tensorboardX writes them, the
    ``tensorboard`` package reads them) and a wandb run (``log.wandb``; ``log.wandb_mode`` 'offline'
    needs no network, ``wandb sync`` uploads later). ``resume(step)`` forgets what was logged after
    the restored step: JSONL rows are cut, TensorBoard purges the later events (purge_step), and
    wandb continues the run whose id is kept in WORKDIR/wandb_id.txt."""

    def __init__(self, workdir: str, log_cfg: dict | None = None, *, name: str = "", config: dict | None = None):
        self.workdir = workdir
        self.path = os.path.join(workdir, "metrics.jsonl")
        os.makedirs(os.path.abspath(workdir), exist_ok=True)
        self.log = {**LOG_DEFAULTS, **(log_cfg or {})}
        self.name = name or os.path.basename(os.path.abspath(workdir))
        self.config = config or {}
        self._tb = self._wandb = None
        self._purge_step = None

    def resume(self, step: int) -> None:
        if os.path.exists(self.path):  # rows logged after ``step`` go: the resumed run logs those steps again
            rows = [r for r in read_jsonl(self.path) if r["step"] <= step]
            with open(f"{self.path}.tmp", "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in rows)
            os.replace(f"{self.path}.tmp", self.path)
        self._purge_step = step + 1

    def restart(self) -> None:
        """Forget everything logged before (a result written again replaces the last one)."""
        if os.path.exists(self.path):
            os.remove(self.path)
        self._purge_step = 0

    def _tensorboard(self):
        if self._tb is None and self.log["tensorboard"]:
            from tensorboardX import SummaryWriter
            self._tb = SummaryWriter(os.path.join(self.workdir, "tensorboard"), purge_step=self._purge_step,
                                     flush_secs=30)
        return self._tb

    def _wandb_run(self):
        if self._wandb is None and self.log["wandb"]:
            try:
                import wandb
            except ImportError:
                raise ImportError("log.wandb=True needs wandb: .venv/bin/pip install wandb") from None
            id_path = os.path.join(self.workdir, "wandb_id.txt")
            if not os.path.exists(id_path):
                with open(id_path, "w") as f:
                    f.write(uuid.uuid4().hex[:8])
            with open(id_path) as f:
                run_id = f.read().strip()
            self._wandb = wandb.init(project=self.log["wandb_project"], name=self.name, id=run_id, resume="allow",
                                     dir=self.workdir, mode=self.log["wandb_mode"], config=self.config,
                                     reinit="create_new", settings=wandb.Settings(silent=True))
        return self._wandb

    def scalars(self, step: int, metrics: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": int(step), **{k: float(v) for k, v in metrics.items()}}) + "\n")
        if (tb := self._tensorboard()) is not None:
            for k, v in metrics.items():
                tb.add_scalar(k, float(v), int(step))
        if (run := self._wandb_run()) is not None:
            run.log({k: float(v) for k, v in metrics.items()}, step=int(step))

    def images(self, step: int, images: dict) -> None:
        """images: {tag: uint8 [H, W, 3]}."""
        if (tb := self._tensorboard()) is not None:
            for k, v in images.items():
                tb.add_image(k, np.asarray(v), int(step), dataformats="HWC")
        if (run := self._wandb_run()) is not None:
            import wandb
            run.log({k: wandb.Image(np.asarray(v)) for k, v in images.items()}, step=int(step))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None


def flat_numbers(tree: dict, prefix: str = "") -> dict:
    """{'a': {'b': 1.0, 'c': [..]}} -> {'a/b': 1.0}: the numeric leaves of a nested result."""
    out = {}
    for k, v in tree.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat_numbers(v, name + "/"))
        elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            out[name] = float(v)
    return out


def log_result(workdir: str, result: dict, log_cfg: dict | None = None, *, step: int = 0,
               series: dict | None = None) -> None:
    """A stage's final numbers (held-out probes, evaluation) through a MetricWriter of their own
    folder: every numeric leaf of ``result`` at ``step``, and each ``series`` {tag: values} one
    value per step from 0 (e.g. the return of every evaluation episode)."""
    writer = MetricWriter(workdir, log_cfg)
    writer.restart()  # a result replaces the previous one
    for i in range(max((len(v) for v in (series or {}).values()), default=0)):
        writer.scalars(i, {tag: v[i] for tag, v in series.items() if i < len(v)})
    writer.scalars(step, flat_numbers(result))
    writer.close()
