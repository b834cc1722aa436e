"""Held-out measures of a frozen LAM over every transition (o_t, o_{t+1}) of a split.

- Ridge probes: latent z(o_t, o_{t+1}) -> a_t and embedding e(o_t) -> s_t, fit on one split and
  scored on another (``lam_jax.evaluation.ridge``); their normal equations are accumulated on device.
- Eval action MSE (the paper's Fig. 9a, ``eval_true_action_mse_loss`` / ``idm/eval_mse_loss``):
  for models with a true-action head, squared error summed over action dimensions and averaged
  over transitions, as the reference computes it (``reduction="sum"`` / number of samples).

Each process reads and scores only its share of the episodes, on its own devices, a few episodes
at a time; the sums are added across processes at the end.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import Mesh
from tqdm.auto import tqdm

from lam_jax.data import sampling
from lam_jax.devices import sharding
from lam_jax.evaluation import ridge


def transition_sums(model, source, frame_stack: int, predict_actions: bool = False, batch_size: int = 512,
                    chunk_episodes: int = 8, progress: bool = True) -> dict:
    """Moments {latent: (z, a), embedding: (e, s)} and, with ``predict_actions``, the summed squared
    action error over every transition of ``source``'s episodes (this process's share)."""
    mesh = Mesh(np.asarray(jax.local_devices()), (sharding.DATA_AXIS,))  # this process's devices only
    n_dev = sharding.data_size(mesh)
    batch_size = max(n_dev, batch_size // n_dev * n_dev)
    graphdef, state = nnx.split(model)
    state = jax.device_put(sharding.local_copy(state), sharding.replicated(mesh))
    mine = np.arange(source.num_episodes)[jax.process_index()::jax.process_count()]
    # A process with no episode of its own (fewer episodes than processes) still takes part in
    # the gather: it runs one episode at weight 0.
    weight = 1.0 if len(mine) else 0.0
    mine = mine if len(mine) else np.arange(1)

    @jax.jit
    def sums(state, obs, nxt, action, st, valid):
        m = nnx.merge(graphdef, state)
        out = {"latent": ridge.moments(m.latent_action(obs, nxt).astype(jnp.float32), action, valid, jnp),
               "embedding": ridge.moments(m.embed(obs).astype(jnp.float32), st, valid, jnp)}
        if predict_actions:
            err = jnp.square(m.predict_action(obs, nxt).astype(jnp.float32) - action).sum(-1)
            out["action_sq_error"] = {"sum": (err * valid).sum(), "n": valid.sum()}
        return out

    total = None
    chunks = [mine[i:i + chunk_episodes] for i in range(0, len(mine), chunk_episodes)]
    for chunk in tqdm(chunks, desc="held-out features", unit="chunk", leave=False, disable=not progress):
        eps = source.load(chunk)
        transitions = np.arange(eps.num_episodes * (eps.length - 1))  # every (episode, t) of the chunk
        for i in range(0, len(transitions), batch_size):
            ep, t = np.divmod(transitions[i:i + batch_size], eps.length - 1)
            valid = np.full(batch_size, weight, np.float32)
            if len(ep) < batch_size:  # pad the last batch to the sharded size; padded rows weigh 0
                valid[len(ep):] = 0
                ep, t = np.resize(ep, batch_size), np.resize(t, batch_size)
            arrays = (sampling.gather_stack(eps.frames, ep, t, frame_stack),
                      sampling.gather_stack(eps.frames, ep, t + 1, frame_stack),
                      eps.actions[ep, t], eps.states[ep, t], valid)
            out = sums(state, *jax.device_put(arrays, sharding.split(mesh)))
            total = out if total is None else jax.tree.map(jnp.add, total, out)
    total = jax.device_get(total)
    if jax.process_count() > 1:  # every process contributes its episodes' sums
        total = jax.tree.map(lambda x: np.asarray(x).sum(0), multihost_utils.process_allgather(total))
    return total


def held_out_report(model, train, evals, frame_stack: int, predict_actions: bool = False, l2: float = 1e-3,
                    progress: bool = True) -> dict:
    """Ridge probes fit on ``train`` and scored on ``evals``; the eval action MSE when asked."""
    fit = transition_sums(model, train, frame_stack, progress=progress)
    test = transition_sums(model, evals, frame_stack, predict_actions, progress=progress)
    report = {"latent_action_probe": ridge.score(test["latent"], ridge.solve_ridge(fit["latent"], l2)),
              "embedding_state_probe": ridge.score(test["embedding"], ridge.solve_ridge(fit["embedding"], l2))}
    if predict_actions:
        err = test["action_sq_error"]
        report["eval_action_mse"] = float(err["sum"] / err["n"])
    return report
