"""The regime search's trend: LAOM's held-out probe against LAPO's as updates, trajectories and
resolution grow, and where, at those rates, LAOM would overtake (configs/regime_search.py ``trend``).

Updates: each run's held-out probe at an earlier kept checkpoint (``trend_step``) beside its last,
so the change with updates is measured within runs. Trajectories and resolution: one setting's
ratio against another's, each ratio a Welch interval on log values over its two rows' seeds.
"""
from __future__ import annotations

import math
import os

import numpy as np
from scipy import stats as scipy_stats

from lam_jax.evaluation import report
from lam_jax.stages import probe
from lam_jax.training import run_dir


def step_probes(results: dict, points, step: int) -> None:
    """Adds each trend row's held-out probe at ``step`` to its seeds' results (probe_report_step{step}.json
    in the run's folder, made once); runs without that checkpoint get none."""
    for _, *rows, _, _ in points:
        for arm, rung in rows:
            for seed in results.get(arm, {}).get(rung, {}).values():
                path = os.path.join(seed["workdir"], probe.report_name(step))
                if os.path.isfile(path):
                    made = run_dir.read_json(path)
                elif os.path.isdir(os.path.join(seed["workdir"], "checkpoints", str(step))):
                    made = probe.run(seed["workdir"], step=step, progress=False)
                else:
                    continue
                mse = made["latent_action_probe"]["mse"]
                seed.setdefault("ridge_probe_mse_at", {})[str(step)] = mse


def _logs(results: dict, row, step: int | None) -> np.ndarray:
    seeds = results.get(row[0], {}).get(row[1], {})
    values = [s["ridge_probe_mse"] if step is None else s.get("ridge_probe_mse_at", {}).get(str(step))
              for _, s in sorted(seeds.items())]
    return np.log(np.asarray([v for v in values if v is not None], np.float64))


def _changes(results: dict, row, step: int) -> dict:
    """{seed: log change of the held-out probe from ``step`` to the end}, for seeds probed at both."""
    seeds = results.get(row[0], {}).get(row[1], {})
    return {k: math.log(s["ridge_probe_mse"] / s["ridge_probe_mse_at"][str(step)]) for k, s in seeds.items()
            if str(step) in s.get("ridge_probe_mse_at", {})}


def _interval(mean: float, parts: list[tuple[float, int]]) -> tuple[float, float]:
    """95% interval of a sum of independent means; parts: (variance of a mean, its sample size)."""
    se2 = sum(v for v, _ in parts)
    if se2 == 0:
        return mean, mean
    dof = se2 ** 2 / sum(v ** 2 / (n - 1) for v, n in parts)
    half = scipy_stats.t.ppf(0.975, dof) * math.sqrt(se2)
    return mean - half, mean + half


def _gap(results: dict, lapo, laom, step=None):
    """(log LAOM/LAPO, [(variance of a mean, n)]) or None below 2 seeds a side."""
    a, b = _logs(results, laom, step), _logs(results, lapo, step)
    if min(len(a), len(b)) < 2:
        return None
    return a.mean() - b.mean(), [(a.var(ddof=1) / len(a), len(a)), (b.var(ddof=1) / len(b), len(b))]


def _fmt(log_ratio: float, low: float, high: float) -> str:
    return f"{math.exp(log_ratio):.2f}x [{math.exp(low):.2f}, {math.exp(high):.2f}]"


def _per_doubling(delta: float, low: float, high: float, doublings: float) -> dict:
    low, high = sorted((low / doublings, high / doublings))  # fewer: the bounds swap
    return {"factor": math.exp(delta / doublings), "low": math.exp(low), "high": math.exp(high)}


def _at(now: float, gap: float, factor: float) -> str:
    x = now * 2 ** min(gap / -math.log(factor), 1000)
    return f"{x:,.0f}" if x < 1e7 else f"{x:.2g}"


def _projection(gap: float, rate: dict, unit: str, now: float) -> str:
    """Where the gap (log LAOM/LAPO > 0) closes at the rate's estimate and its interval's bounds."""
    if gap <= 0:
        return "LAOM is already below LAPO here"
    if rate["low"] > 1:
        return "no crossing: the gap widens (the whole interval is above 1)"
    if rate["high"] >= 1:
        return ("no crossing projected: within the interval the gap does not shrink" if rate["factor"] >= 1 else
                f"at the estimate, LAOM would overtake at about {_at(now, gap, rate['factor'])} {unit}; the "
                "interval includes no shrinking, so no crossing is supported")
    return (f"LAOM would overtake at about {_at(now, gap, rate['factor'])} {unit} (between "
            f"{_at(now, gap, rate['low'])} and {_at(now, gap, rate['high'])} at the interval's bounds)")


def section(out: str, results: dict, points, step: int, num_steps: int) -> list[str]:
    """points: (label, LAPO row, LAOM row, trajectories, px); the first is the reference setting."""
    table, series = [], {}
    for label, lapo, laom, _, _ in points:
        for at, steps in ((step, step), (None, num_steps)):
            g = _gap(results, lapo, laom, at)
            if g is None:
                continue
            low, high = _interval(g[0], g[1])
            lapo_s, laom_s = (report.summarize(np.exp(_logs(results, r, at))) for r in (lapo, laom))
            table.append(f"| {label} | {steps} | {report.fmt(lapo_s, 2)} | {report.fmt(laom_s, 2)} | "
                         f"{_fmt(g[0], low, high)} |")
            series.setdefault(label, []).append((steps, math.exp(g[0]), math.exp(low), math.exp(high)))
    if not table:
        return []
    lines = ["", "## The gap with updates, trajectories and resolution", "",
             "LAOM's held-out ridge probe against LAPO's (ratio of geometric means, 95% Welch interval on log "
             f"values; above 1, LAOM is worse). Step {step}: the same runs' checkpoint at that step "
             f"(`python -m experiments.probe --config.workdir=RUN --config.step={step}`, made by the command below).",
             "", "| setting | updates | LAPO | LAOM | LAOM / LAPO |", "|---|---|---|---|---|", *table, ""]
    # Updates: the change of the log ratio from step to the end, within runs, paired by seed index.
    deltas = []
    for _, lapo, laom, _, _ in points:
        a, b = _changes(results, laom, step), _changes(results, lapo, step)
        deltas += [a[k] - b[k] for k in sorted(set(a) & set(b))]  # LAOM's seed k with LAPO's seed k
    rates = {}
    if len(deltas) >= 2:
        d = np.asarray(deltas)
        low, high = _interval(d.mean(), [(d.var(ddof=1) / len(d), len(d))])
        rates["updates"] = _per_doubling(d.mean(), low, high, math.log2(num_steps / step))
        rates["updates"]["n"] = len(d)
    base = _gap(results, points[0][1], points[0][2])
    for label, lapo, laom, traj, px in points[1:]:
        other = _gap(results, lapo, laom)
        changed = [(axis, new / old) for axis, new, old in (("trajectories", traj, points[0][3]),
                                                              ("pixels", px, points[0][4])) if new != old]
        if base is None or other is None or len(changed) != 1 or changed[0][0] in rates:
            continue  # one axis at a time, its first setting
        axis, ratio = changed[0]
        low, high = _interval(other[0] - base[0], base[1] + other[1])
        rates[axis] = _per_doubling(other[0] - base[0], low, high, math.log2(ratio))
    if base is None or not rates:
        return lines
    now = {"updates": (num_steps, "updates"), "trajectories": (points[0][3], "trajectories"),
           "pixels": (points[0][4], "px frames")}
    lines += [f"The ratio's change per doubling, and where LAOM would overtake LAPO from {points[0][0]}, "
              f"{num_steps} updates (ratio {math.exp(base[0]):.2f}), extrapolating one axis at a time "
              "(a straight line in log-log; a projection, not a measurement). Within one run the late steps "
              "train at a decaying learning rate, so the change with updates is that of one schedule, not of a "
              "longer run:", "",
              "| doubling | the ratio changes by (95% interval) | projection |", "|---|---|---|"]
    for axis, rate in rates.items():
        source = (f"within runs, step {step} to {num_steps}, {rate['n']} seed pairs" if axis == "updates" else
                  "between settings at the last step")
        lines.append(f"| {axis} ({source}) | {rate['factor']:.3f}x [{rate['low']:.3f}, {rate['high']:.3f}] | "
                     f"{_projection(base[0], rate, now[axis][1], now[axis][0])} |")
    lines += ["", "![LAOM / LAPO held-out probe by setting and updates](regime_trend.png)"]
    _plot(os.path.join(out, "regime_trend.png"), series)
    return lines


def _plot(path: str, series: dict) -> None:
    plt = report.pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for i, (label, pts) in enumerate(series.items()):
        x, y, lo, hi = (np.asarray(v) for v in zip(*sorted(pts)))
        x = x * (1 + 0.02 * i)  # side by side where settings share an update count
        ax.errorbar(x, y, yerr=[y - lo, hi - y], marker="o", capsize=3, label=label)
    ax.axhline(1.0, color="k", lw=0.8, ls="--", label="LAOM = LAPO")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib import ticker  # after report.pyplot() has chosen the backend
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        axis.set_minor_formatter(ticker.FormatStrFormatter("%g"))
    ax.set_xticks(sorted({p[0] for pts in series.values() for p in pts}))
    ax.set_xlabel("updates")
    ax.set_ylabel("LAOM / LAPO held-out probe")
    ax.legend(fontsize=7)
    report.save_figure(fig, ax, path, "The gap by setting (below 1: LAOM better)")
