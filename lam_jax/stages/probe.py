"""Offline linear probing of a frozen LAM, sharded over devices.

Latent actions z(o_t, o_{t+1}) and embeddings e(o_t) are computed for every transition in
batches split along the mesh's data axis; the probes' normal equations (sums of x, x x^T and
x y^T) are accumulated on device, so nothing per-sample returns to the host. Ridge probes are
solved on the host and scored on held-out episodes: latent -> action and embedding -> state,
MSE per dimension, next to the chance MSE of predicting the training mean.
"""
from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec as P
from tqdm.auto import tqdm

from lam_jax import data as data_lib
from lam_jax import probe as probe_lib
from lam_jax import sampling, sharding
from lam_jax.restore import load_lam


def _transition_batches(episodes, batch_size: int):
    ep, t = np.meshgrid(np.arange(episodes.num_episodes), np.arange(episodes.length - 1), indexing="ij")
    ep, t = ep.ravel(), t.ravel()
    for i in range(0, len(ep), batch_size):
        yield ep[i:i + batch_size], t[i:i + batch_size]


def probe_features(episodes, model, frame_stack: int, state_stats, mesh, batch_size: int = 512):
    """Moments of [latent, embedding] with targets [action, standardised state], accumulated on device."""
    n_dev = mesh.shape[sharding.DATA_AXIS]
    batch_size = max(n_dev, batch_size // n_dev * n_dev)
    graphdef, state = nnx.split(model)
    state = jax.device_put(state, sharding.replicated(mesh))
    split = NamedSharding(mesh, P(sharding.DATA_AXIS))
    states = sampling.standardised_states(episodes, state_stats)

    @jax.jit
    def moments(state, obs, nxt, action, st, valid):
        m = nnx.merge(graphdef, state)
        return {"latent": probe_lib.moments(m.latent_action(obs, nxt).astype(jnp.float32), action, valid, jnp),
                "embedding": probe_lib.moments(m.embed(obs).astype(jnp.float32), st, valid, jnp)}

    total = None
    for ep, t in tqdm(list(_transition_batches(episodes, batch_size)), desc="probe features", unit="batch",
                      leave=False):
        valid = np.ones(batch_size, np.float32)
        if len(ep) < batch_size:  # pad the last batch to the sharded size; padded rows weigh 0
            valid[len(ep):] = 0
            ep, t = np.resize(ep, batch_size), np.resize(t, batch_size)
        arrays = (sampling.gather_stack(episodes.frames, ep, t, frame_stack),
                  sampling.gather_stack(episodes.frames, ep, t + 1, frame_stack),
                  episodes.actions[ep, t], states[ep, t], valid)
        out = moments(state, *jax.device_put(arrays, split))
        total = out if total is None else jax.tree.map(jnp.add, total, out)
    return total


def run(workdir: str, dataset: str | None = None, train_split: str = "train", eval_split: str = "eval",
        l2: float = 1e-3, num_devices: int = 0, out: str | None = None) -> dict:
    cfg, model, spec = load_lam(workdir)
    dataset = dataset or cfg.data.path
    if not dataset:
        raise ValueError("the run was trained on synthetic data; pass a dataset path to probe on")
    mesh = sharding.make_mesh(num_devices)
    stats = (np.asarray(spec["state_mean"]), np.asarray(spec["state_std"]))
    args = (model, spec["frame_stack"], stats, mesh)
    train = probe_features(data_lib.load_episodes(dataset, train_split), *args)
    test = probe_features(data_lib.load_episodes(dataset, eval_split), *args)
    report = {"workdir": workdir, "dataset": dataset, "train_split": train_split, "eval_split": eval_split}
    for name, target in (("latent", "action"), ("embedding", "state")):
        report[f"{name}_to_{target}"] = probe_lib.score(test[name], probe_lib.solve_ridge(train[name], l2))
    out = out or os.path.join(workdir, "probe_report.json")
    with open(out, "w") as f:
        json.dump(report, f, indent=1)
    return report
