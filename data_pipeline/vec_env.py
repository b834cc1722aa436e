"""DCS environments stepped in parallel worker processes; the caller batches policy inference.

Each worker owns one environment at a time; ``run_episodes`` hands out seeds, collects the
rendered frames of all live environments, asks the policy for a batch of actions and steps them.
"""
from __future__ import annotations

import multiprocessing as mp
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from data_pipeline import env_config, quiet


def _worker(conn, env_cfg: env_config.EnvConfig):
    quiet.silence_known_noise()
    from data_pipeline import dcs  # the simulator, after the worker is set up
    env = None
    try:
        while True:
            cmd, arg = conn.recv()
            if cmd == "reset":
                env = dcs.make_env(env_cfg, arg)
                ts = env.reset()
                conn.send((ts.observation["pixels"], 0.0, False))
            elif cmd == "step":
                ts = env.step(arg)
                conn.send((ts.observation["pixels"], float(ts.reward or 0.0), bool(ts.last())))
            elif cmd == "close":
                break
    except Exception as e:  # report instead of hanging the caller
        conn.send(e)
    finally:
        conn.close()


def _recv(conn):
    try:
        msg = conn.recv()
    except (EOFError, ConnectionResetError) as e:
        raise RuntimeError("an environment worker died (see its traceback above)") from e
    if isinstance(msg, Exception):
        raise RuntimeError(f"environment worker failed: {msg!r}") from msg
    return msg


def run_episodes(policy: Callable[[np.ndarray], np.ndarray], env_cfg: env_config.EnvConfig, seeds, frame_stack: int,
                 num_workers: int = 2, max_steps: int | None = None, progress: bool = True) -> list[float]:
    """Returns each seed's episode return. ``policy`` maps uint8 [N, H, W, 3*S] stacks to [N, A] actions."""
    env_cfg.validate()
    seeds = list(seeds)
    ctx = mp.get_context("spawn")
    n = max(1, min(num_workers, len(seeds)))
    pipes, procs = [], []
    for _ in range(n):
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_worker, args=(child, env_cfg), daemon=True)
        p.start()
        pipes.append(parent)
        procs.append(p)
    returns = {}
    bar = tqdm(total=len(seeds), desc="evaluate", unit="ep", disable=not progress)
    pending = list(enumerate(seeds))
    live = {}  # worker -> [episode index, frame history, return, steps]

    def start_next(w):
        i, seed = pending.pop(0)
        pipes[w].send(("reset", seed))
        live[w] = [i, [_recv(pipes[w])[0]] * frame_stack, 0.0, 0]  # first-frame padding

    try:
        for w in range(n):
            start_next(w)
        while live:
            workers = sorted(live)
            stacks = np.stack([np.concatenate(live[w][1][-frame_stack:], -1) for w in workers])
            actions = np.clip(np.asarray(policy(stacks), np.float64), -1.0, 1.0)
            for w, a in zip(workers, actions):
                pipes[w].send(("step", a))
            for w in workers:
                frame, reward, last = _recv(pipes[w])
                state = live[w]
                state[1] = state[1][1 - frame_stack:] + [frame] if frame_stack > 1 else [frame]
                state[2] += reward
                state[3] += 1
                if last or (max_steps and state[3] >= max_steps):
                    returns[state[0]] = state[2]
                    bar.update(1)
                    del live[w]
                    if pending:
                        start_next(w)
    finally:
        bar.close()
        for conn in pipes:
            try:
                conn.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
        for p in procs:
            p.join(timeout=10)
    return [returns[i] for i in range(len(seeds))]
