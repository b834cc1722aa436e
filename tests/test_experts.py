import numpy as np
import pytest

from data_pipeline import dcs
from data_pipeline.experts import ExpertPolicy


def test_cheetah_expert_return_on_vanilla():
    policy = ExpertPolicy("cheetah-run")
    env = dcs.make_env(dcs.EnvConfig(task="cheetah-run", preset="vanilla"), seed=0)
    ts, total, steps = env.reset(), 0.0, 0
    while not ts.last():
        action, raw = policy.act(policy.flatten(ts.observation))
        assert np.all(np.abs(action) <= 1.0) and action.shape == (6,)
        ts = env.step(action)
        total += ts.reward
        steps += 1
    assert steps == 1000
    assert total > 700, total


@pytest.mark.parametrize("task,state_dim,action_dim", [
    ("cheetah-run", 17, 6), ("walker-run", 24, 6), ("hopper-hop", 15, 4), ("humanoid-walk", 67, 21)])
def test_all_experts_load_and_act_in_bounds(task, state_dim, action_dim):
    policy = ExpertPolicy(task)
    assert (policy.state_dim, policy.action_dim) == (state_dim, action_dim)
    state = np.random.default_rng(0).normal(size=state_dim).astype(np.float32) * 5
    action, raw = policy.act(state)
    assert action.shape == (action_dim,) and np.all(np.abs(action) <= 1.0)
    if policy.params["output_transform"] == "clip":
        np.testing.assert_allclose(action, np.clip(raw, -1, 1))


def test_unknown_expert_is_rejected():
    with pytest.raises(ValueError, match="no expert policy"):
        ExpertPolicy("cheetah-fly")


from data_pipeline.experts import REFERENCE_RETURNS  # noqa: E402


@pytest.mark.parametrize("task", sorted(REFERENCE_RETURNS))
def test_experts_reproduce_reference_returns(task):
    from dm_control import suite
    policy = ExpertPolicy(task)
    domain, name = dcs.TASKS[task]
    returns = []
    for seed in range(3):
        env = suite.load(domain, name, task_kwargs={"random": seed})  # state only: no rendering needed
        ts, total = env.reset(), 0.0
        while not ts.last():
            ts = env.step(policy.act(policy.flatten(ts.observation))[0])
            total += ts.reward
        returns.append(total)
    assert abs(np.mean(returns) - REFERENCE_RETURNS[task]) < 0.05 * REFERENCE_RETURNS[task], returns
