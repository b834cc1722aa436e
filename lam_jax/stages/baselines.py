"""Reference points for returns: a uniformly random policy in the same setting."""
from __future__ import annotations

import numpy as np

from data_pipeline import dcs, vec_env


def random_policy_returns(env_cfg: dcs.EnvConfig, action_dim: int, seeds, workers: int = 2,
                          max_steps: int | None = None, progress: bool = True) -> list[float]:
    """Returns of actions ~ U[-1, 1]^A, drawn from a fixed generator (the same numbers every run)."""
    rng = np.random.default_rng(0)
    return vec_env.run_episodes(lambda obs: rng.uniform(-1, 1, (len(obs), action_dim)), env_cfg, seeds, 1,
                                workers, max_steps, progress=progress)
