"""report's few-run statistics (IQM, stratified bootstrap, probability of improvement) against
values worked out by hand."""
import numpy as np
import pytest

from lam_jax.evaluation import report


def test_iqm_is_the_mean_of_the_middle_half():
    assert report.iqm([8, 1, 7, 2, 6, 3, 5, 4]) == pytest.approx((3 + 4 + 5 + 6) / 4)
    assert report.iqm([1, 2, 100]) == pytest.approx(103 / 3)  # under 4 runs nothing is trimmed
    assert report.iqm([[1, 2, 3, 4], [5, 6, 7, 8]]) == pytest.approx(4.5)  # every run of every task


def test_iqm_interval_is_reproducible_and_brackets_the_iqm():
    scores = {"cheetah": [1.0, 2.0, 3.0, 4.0], "walker": [10.0, 11.0, 12.0, 13.0]}
    a, b = report.iqm_interval(scores, seed=3), report.iqm_interval(scores, seed=3)
    assert a == b and a["n"] == 8 and a["low"] <= a["iqm"] <= a["high"]
    assert a["iqm"] == pytest.approx(report.iqm([1, 2, 3, 4, 10, 11, 12, 13]))
    # stratified: every resample keeps 4 runs per task, so the IQM cannot leave [3.0, 11.0] (the middle
    # half of 4 low and 4 high values lies between the tasks' 2nd and 3rd values at the extremes)
    assert 2.0 <= a["low"] and a["high"] <= 12.0
    assert report.iqm_interval({"t": [2.0, 2.0, 2.0]}) == {"n": 3, "iqm": 2.0, "low": 2.0, "high": 2.0}
    assert report.iqm_interval({"t": [None]}) == {"n": 0}


@pytest.mark.parametrize("x, y, p", [([1, 2, 3], [0, 0, 0], 1.0), ([1, 2, 3], [1, 2, 3], 0.5),
                                     ([1, 2, 3], [2], 0.5), ([3, 4], [1, 3.5], 0.75), ([0], [5], 0.0)])
def test_probability_of_improvement_counts_pairs(x, y, p):
    assert report.probability_of_improvement({"t": x}, {"t": y})["p"] == pytest.approx(p)


def test_probability_of_improvement_averages_tasks_and_lines_say_when_it_orders():
    x = {"a": [1.0, 2.0], "b": [5.0, 6.0]}
    y = {"a": [0.0, 0.5], "b": [5.5, 5.5]}
    r = report.probability_of_improvement(x, y)
    assert r["p"] == pytest.approx((1.0 + 0.5) / 2) and r["low"] <= r["p"] <= r["high"]
    # lower is better: the method with the smaller values wins
    lines = report.improvement_lines({"A": {"t": [1.0, 1.1, 1.2]}, "B": {"t": [5.0, 5.1, 5.2]}}, lower_is_better=True)
    assert lines == ["P(A better than B) = 1.00 [1.00, 1.00] (every run of one beats every run of the other)"]
    lines = report.improvement_lines({"A": {"t": [1.0, 3.0]}, "B": {"t": [2.0, 2.5]}}, lower_is_better=False)
    assert len(lines) == 1 and "no ordering" in lines[0]
    assert np.isfinite(r["high"])
