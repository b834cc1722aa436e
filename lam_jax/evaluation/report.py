"""Statistics over seeds, markdown tables and matplotlib figures for experiment reports.

Intervals are mean +- the 95% t-interval half-width over seeds (n >= 2), beside median and
min-max. An ordering of two methods is stated only where their intervals do not overlap.
Beside them, rliable's few-run statistics (Agarwal et al., 2021), written out here because
rliable pins an ``arch`` release that does not install on our Pythons: the interquartile mean
(IQM) over every run of every task, its 95% stratified bootstrap interval (runs resampled within
each task, percentile method), and the probability of improvement of one method over another
(per task the Mann-Whitney statistic P(X > Y) + P(X = Y) / 2, averaged over tasks).
"""
from __future__ import annotations

import itertools
import os

import numpy as np
from scipy import stats as scipy_stats


def pyplot():
    """matplotlib, drawing to files (Agg), set up only when a figure is drawn: importing this module
    leaves the process's backend alone."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def dig(tree, *keys):
    """tree[k1][k2]... or None where a level is missing."""
    for k in keys:
        tree = (tree or {}).get(k)
    return tree


def summarize(values) -> dict:
    v = np.asarray([x for x in values if x is not None], np.float64)
    n = len(v)
    if n == 0:
        return {"n": 0}
    half = float(scipy_stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    mean = float(v.mean())
    return {"n": n, "mean": mean, "ci95": half, "low": mean - half, "high": mean + half,
            "median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()), "values": v.tolist()}


def fmt(s: dict, digits: int = 3) -> str:
    if not s.get("n"):
        return "-"
    if s["n"] == 1:
        return f"{s['mean']:.{digits}f} (1 seed)"
    return f"{s['mean']:.{digits}f} ± {s['ci95']:.{digits}f}"


def fmt_range(s: dict, digits: int = 3) -> str:
    return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}, {s['max']:.{digits}f}]" if s.get("n") else "-"


def separated(a: dict, b: dict) -> bool:
    """True when both have >= 3 seeds and their 95% intervals do not overlap."""
    if a.get("n", 0) < 3 or b.get("n", 0) < 3:
        return False
    return a["high"] < b["low"] or b["high"] < a["low"]


def orderings(named: dict, lower_is_better: bool) -> list[str]:
    """Sentences for every pair whose intervals separate, and for those within noise."""
    better, noise = [], []
    for (na, a), (nb, b) in itertools.combinations(named.items(), 2):
        if not a.get("n") or not b.get("n"):
            continue
        if separated(a, b):
            first, second = (na, nb) if (a["mean"] < b["mean"]) == lower_is_better else (nb, na)
            better.append(f"{first} better than {second}")
        else:
            noise.append(f"{na} vs {nb}")
    lines = []
    if better:
        lines.append("Separated (non-overlapping 95% intervals): " + "; ".join(better) + ".")
    if noise:
        lines.append("Within noise (intervals overlap, or fewer than 3 seeds): " + "; ".join(noise) + ".")
    return lines


def bar_plot(path: str, labels, summaries, ylabel: str, reference_lines: dict | None = None, title: str = "",
             horizontal: bool = False, log: bool = False) -> None:
    """Means with 95% intervals and every seed's value as a dot; optional labelled reference lines."""
    means, errs = _means_and_errors(summaries)
    pos = np.arange(len(labels))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.55 * len(labels) + 1.6) if horizontal else (1.6 + 1.25 * len(labels), 3.6))
    colours = plt.cm.viridis(np.linspace(0.15, 0.85, len(labels)))
    if horizontal:
        ax.barh(pos, means, xerr=errs, color=colours, capsize=3)
        for p, s in zip(pos, summaries):
            ax.scatter(s.get("values", []), [p] * len(s.get("values", [])), color="k", s=9, zorder=3)
        ax.set_yticks(pos, labels)
        ax.invert_yaxis()
        ax.set_xlabel(ylabel)
        if log:
            ax.set_xscale("log")
    else:
        ax.bar(pos, means, yerr=errs, color=colours, capsize=3)
        for p, s in zip(pos, summaries):
            ax.scatter([p] * len(s.get("values", [])), s.get("values", []), color="k", s=9, zorder=3)
        ax.set_xticks(pos, labels, rotation=20, ha="right")
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
    _reference_lines(ax, reference_lines, vertical=horizontal)
    if reference_lines:
        ax.legend(fontsize=8)
    save_figure(fig, ax, path, title)


def _means_and_errors(summaries):
    """Means, and 95% half-widths where there are 2 or more seeds (0 otherwise)."""
    return ([s.get("mean", np.nan) for s in summaries],
            [s.get("ci95", 0) if s.get("n", 0) > 1 else 0 for s in summaries])


def _reference_lines(ax, lines: dict | None, vertical: bool) -> None:
    """Labelled black reference lines (chance, paper values), one dash style each."""
    for i, (name, value) in enumerate((lines or {}).items()):
        (ax.axvline if vertical else ax.axhline)(value, ls=["--", ":", "-."][i % 3], c="k", lw=1, label=name)


def save_figure(fig, ax, path: str, title: str) -> None:
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    pyplot().close(fig)


def grouped_bar_plot(path: str, labels, groups: dict, xlabel: str, reference_lines: dict | None = None,
                     title: str = "") -> None:
    """Horizontal bars, one colour per group ({group: [summary per label]}), means with 95% intervals
    and every seed's value as a dot."""
    n = len(groups)
    height = 0.8 / n
    pos = np.arange(len(labels))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.7 * len(labels) + 1.6))
    colours = plt.cm.viridis(np.linspace(0.2, 0.8, n))
    for i, ((name, summaries), colour) in enumerate(zip(groups.items(), colours)):
        y = pos + (i - (n - 1) / 2) * height
        means, errs = _means_and_errors(summaries)
        ax.barh(y, means, height, xerr=errs, color=colour, capsize=3, label=name)
        for yy, s in zip(y, summaries):
            ax.scatter(s.get("values", []), [yy] * len(s.get("values", [])), color="k", s=9, zorder=3)
    _reference_lines(ax, reference_lines, vertical=True)
    ax.set_yticks(pos, labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=8)
    save_figure(fig, ax, path, title)


def line_plot(path: str, xs, series: dict, xlabel: str, ylabel: str, reference_lines: dict | None = None,
              logx: bool = True, title: str = "") -> None:
    """series: {name: [summary per x]}; means with 95% interval bands."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name, summaries in series.items():
        m, h = map(np.array, _means_and_errors(summaries))
        ax.plot(xs, m, "-s", ms=4, label=name)
        ax.fill_between(xs, m - h, m + h, alpha=0.15)
    _reference_lines(ax, reference_lines, vertical=False)
    if logx:
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    save_figure(fig, ax, path, title)


BOOTSTRAP_REPS = 2000


def iqm(values) -> float:
    """Mean of the middle 50% of the values (scipy's trim_mean at 0.25, as rliable); with fewer
    than 4 values nothing is trimmed, so it is the mean."""
    return float(scipy_stats.trim_mean(np.asarray(values, np.float64).ravel(), 0.25))


def _bootstrap(scores: dict, stat, reps: int, seed: int) -> np.ndarray:
    """``stat`` over ``reps`` stratified resamples: each task's runs drawn with replacement."""
    rng = np.random.default_rng(seed)
    tasks = [np.asarray(v, np.float64) for v in scores.values()]
    return np.array([stat([t[rng.integers(0, len(t), len(t))] for t in tasks]) for _ in range(reps)])


def iqm_interval(scores: dict, reps: int = BOOTSTRAP_REPS, seed: int = 0) -> dict:
    """scores: {task: runs}. IQM over every run and its 95% stratified bootstrap interval."""
    scores = {t: [x for x in v if x is not None] for t, v in scores.items()}
    scores = {t: v for t, v in scores.items() if v}
    if not scores:
        return {"n": 0}
    boot = _bootstrap(scores, lambda ts: iqm(np.concatenate(ts)), reps, seed)
    low, high = np.percentile(boot, [2.5, 97.5])
    return {"n": sum(map(len, scores.values())), "iqm": iqm(np.concatenate(list(scores.values()))),
            "low": float(low), "high": float(high)}


def _improvement(xs, ys) -> float:
    """Mean over tasks of P(X > Y) + P(X = Y) / 2 between the runs of X and of Y."""
    return float(np.mean([np.mean((x[:, None] > y[None]) + 0.5 * (x[:, None] == y[None])) for x, y in zip(xs, ys)]))


def probability_of_improvement(x: dict, y: dict, reps: int = BOOTSTRAP_REPS, seed: int = 0) -> dict:
    """P(X > Y) for {task: runs} of two methods (higher scores better; pass negated scores where
    lower is better), with its 95% stratified bootstrap interval (both methods' runs resampled)."""
    tasks = [t for t in x if t in y and len(x[t]) and len(y[t])]
    xs = [np.asarray(x[t], np.float64) for t in tasks]
    ys = [np.asarray(y[t], np.float64) for t in tasks]
    if not tasks:
        return {"n": 0}
    both = {i: v for i, v in enumerate(xs + ys)}
    boot = _bootstrap(both, lambda ts: _improvement(ts[:len(tasks)], ts[len(tasks):]), reps, seed)
    low, high = np.percentile(boot, [2.5, 97.5])
    return {"n": len(tasks), "p": _improvement(xs, ys), "low": float(low), "high": float(high)}


def ratio_interval(a, b) -> dict:
    """The ratio of geometric means a / b with a 95% Welch interval on log values: log a and log b
    each with its own variance, t with Welch-Satterthwaite degrees of freedom. At n = 3 a percentile
    bootstrap of the means covers far less than 95% (its resamples take at most 10 distinct values)."""
    a, b = (np.log(np.asarray([x for x in v if x is not None], np.float64)) for v in (a, b))
    if not len(a) or not len(b):
        return {"n": 0}
    diff = a.mean() - b.mean()
    if min(len(a), len(b)) < 2:
        return {"n": 1, "ratio": float(np.exp(diff)), "low": float("nan"), "high": float("nan")}
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    dof = se ** 4 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if se > 0 else 1.0
    half = scipy_stats.t.ppf(0.975, dof) * se
    return {"n": min(len(a), len(b)), "ratio": float(np.exp(diff)), "low": float(np.exp(diff - half)),
            "high": float(np.exp(diff + half))}


def fmt_ratio(r: dict) -> str:
    if not r.get("n"):
        return "-"
    return f"{r['ratio']:.2f}x (1 seed)" if r["n"] == 1 else f"{r['ratio']:.2f}x [{r['low']:.2f}, {r['high']:.2f}]"


def fmt_iqm(s: dict, digits: int = 3) -> str:
    return f"{s['iqm']:.{digits}f} [{s['low']:.{digits}f}, {s['high']:.{digits}f}]" if s.get("n") else "-"


def improvement_lines(named: dict, lower_is_better: bool) -> list[str]:
    """named: {method: {task: runs}} -> one line per pair with P(first better than second) and its
    interval. When every run of one method beats every run of the other, every resample agrees and
    the interval is a point: the line says so instead of calling it excluded."""
    sign = -1.0 if lower_is_better else 1.0
    lines = []
    for (na, a), (nb, b) in itertools.combinations(named.items(), 2):
        flip = lambda d: {t: [sign * v for v in runs if v is not None] for t, runs in d.items()}  # noqa: E731
        p = probability_of_improvement(flip(a), flip(b))
        if not p.get("n"):
            continue
        if p["p"] in (0.0, 1.0):  # the bootstrap cannot widen it: a rank, not evidence, with few runs
            verdict = "every run of one beats every run of the other"
        elif p["low"] > 0.5 or p["high"] < 0.5:
            verdict = "interval excludes 0.5"
        else:
            verdict = "interval includes 0.5: no ordering"
        lines.append(f"P({na} better than {nb}) = {p['p']:.2f} [{p['low']:.2f}, {p['high']:.2f}] ({verdict})")
    return lines


def few_run_section(columns: dict, row: str = "method") -> list[str]:
    """columns: {title: (digits, lower_is_better, {method: {task: runs}})} -> rliable's estimates: an
    IQM table with stratified bootstrap intervals, then the probability of improvement per pair."""
    lines = ["## Few-run statistics", "",
             f"IQM over runs with its 95% stratified bootstrap interval ({BOOTSTRAP_REPS} resamples; "
             "with 3 seeds the IQM is the mean and this interval is the runs' [min, max] range: each extreme is "
             "drawn three times in 1 resample of 27, more often than 2.5%), and the probability that one method "
             "beats another "
             "(Mann-Whitney, with its bootstrap interval), as rliable computes them. Orderings are claimed from the "
             "t-intervals above: with 3 runs per method the bootstrap interval collapses to a point whenever one "
             "method's runs all beat the other's, so these lines rank the runs; they do not establish an ordering.",
             "", f"| {row} | " + " | ".join(f"{t} IQM" for t in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    methods = list(next(iter(columns.values()))[2])
    for m in methods:
        lines.append(f"| {m} | " + " | ".join(fmt_iqm(iqm_interval(runs[m]), digits)
                                              for digits, _, runs in columns.values()) + " |")
    for title, (_, lower, runs) in columns.items():
        lines += ["", f"Probability of improvement, {title}:"]
        lines += [f"- {x}" for x in improvement_lines(runs, lower)]
    return lines + [""]


def write(path: str, lines) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path
