"""The paper's expert policies (converted to NumPy), acting from dm_control proprioceptive state."""
from __future__ import annotations

import os

import numpy as np

EXPERT_DIR = os.path.join(os.path.dirname(__file__), "experts")
# Mean return over seeds 0-2 of the original release (experts/README.md): the normaliser for
# downstream returns.
REFERENCE_RETURNS = {"cheetah-run": 839.89, "walker-run": 797.80, "hopper-hop": 323.79, "humanoid-walk": 626.55}
# The paper's normaliser (reference notebook scripts/reproducing_figures.ipynb and the paper's
# appendix): the return of BC trained on the full labeled dataset, with and without distractors.
PAPER_BC_RETURNS = {
    "distractors": {"cheetah-run": 823.0, "walker-run": 749.0, "hopper-hop": 253.0, "humanoid-walk": 428.0},
    "vanilla": {"cheetah-run": 840.0, "walker-run": 735.0, "hopper-hop": 300.0, "humanoid-walk": 601.0},
}
_ACTIVATIONS = {"tanh": np.tanh, "relu": lambda x: np.maximum(x, 0.0)}


class ExpertPolicy:
    """Deterministic expert: flatten (alphabetical keys) -> normalise -> 3-layer MLP -> bound.

    ``act`` returns (executed_action, raw_output): the action sent to the env is clipped
    (PPO) or tanh-squashed (SAC) into [low, high]; raw_output is the unbounded MLP output.
    """

    def __init__(self, task: str, expert_dir: str = EXPERT_DIR):
        path = os.path.join(expert_dir, f"{task}.npz")
        if not os.path.isfile(path):
            known = sorted(f[:-4] for f in os.listdir(expert_dir) if f.endswith(".npz"))
            raise ValueError(f"no expert policy for task {task!r}; available: {known}")
        with np.load(path, allow_pickle=False) as f:
            self.params = {k: f[k] for k in f.files}
        p = self.params
        self.task = task
        self.obs_keys = [str(k) for k in p["obs_keys"]]
        self.state_dim = int(np.sum(p["obs_key_sizes"]))
        self.action_dim = int(p["W2"].shape[1])
        self._act_fn = _ACTIVATIONS[str(p["activation"])]
        self._output = str(p["output_transform"])
        self._scale = np.sqrt(p["obs_var"] + p["obs_norm_eps"]).astype(np.float32)

    @property
    def reference_action_key(self) -> str:
        """Which stored action the reference's datasets hold: the PPO experts' unclipped Gaussian
        mean ('raw_action'), the SAC expert's squashed action ('action')."""
        return "raw_action" if self._output == "clip" else "action"

    def flatten(self, observation) -> np.ndarray:
        """The state vector in the experts' (alphabetical) key order, float32."""
        missing = [k for k in self.obs_keys if k not in observation]
        if missing:
            raise KeyError(f"observation lacks state keys {missing} needed by the {self.task} expert")
        return np.concatenate([np.ravel(observation[k]) for k in self.obs_keys]).astype(np.float32)

    def raw_output(self, state: np.ndarray) -> np.ndarray:
        p = self.params
        x = np.clip((state - p["obs_mean"]) / self._scale, -p["obs_clip"], p["obs_clip"]).astype(np.float32)
        h = self._act_fn(x @ p["W0"] + p["b0"])
        h = self._act_fn(h @ p["W1"] + p["b1"])
        return (h @ p["W2"] + p["b2"]).astype(np.float32)

    def act(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        y = self.raw_output(state)
        if self._output == "tanh":
            a = np.tanh(y)
            a = p["action_low"] + 0.5 * (a + 1.0) * (p["action_high"] - p["action_low"])
        else:
            a = np.clip(y, p["action_low"], p["action_high"])
        return a.astype(np.float32), y
