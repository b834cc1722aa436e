"""The regime search's report: every (arm, rung) row's held-out ridge and online probes over seeds,
and its held-out probe against the baseline LAPO's (ratio of geometric means, Welch interval)."""
from __future__ import annotations

import dataclasses
import os

from experiments import ladder_runs, regime_trend
from lam_jax.evaluation import report
from lam_jax.training import run_dir


@dataclasses.dataclass(frozen=True)
class Arm:
    name: str
    label: str
    variant: str
    rungs: tuple
    overrides: tuple
    collect: tuple = ()  # overrides of the collect config: this arm's own dataset

    @property
    def clean(self) -> bool:
        """Run on the collection without distractors."""
        return "env.preset=vanilla" in self.collect


def _settings(workdir: str) -> str:
    """What the rule or the overrides set, read from the run's own config."""
    c = run_dir.read_json(os.path.join(workdir, "config.json"))
    m = c["model"]
    views = m.get("augment_views", "independent")
    aug = (f"x{m.get('augment_scale', 1.0):g}" + ("" if views == "independent" else f", {views}")
           if m["augment"] else "off")
    head = f"{m['act_head_dim']}" if m["name"] == "laom" else "-"
    tau = f"{m['ema_tau']:g}" if m["name"] == "laom" else "-"
    return f"{m['latent_dim']} / {head} / {tau} / {aug}"


def _data_size_section(arms: list[Arm], rows: list, labels: dict, results: dict) -> list[str]:
    """Rows run on more trajectories (an arm collecting another num_train) beside the same rung, variant and
    overrides on the default data: held-out means and their ratio (Welch interval on logs)."""
    default = {(a.variant, a.overrides, rung): a.name for a in arms if not a.collect for rung in a.rungs}
    more = [a for a in arms if any(x.startswith("num_train=") for x in a.collect)]  # not another resolution
    pairs = [((default[(a.variant, a.overrides, rung)], rung), (a.name, rung), a.collect) for a in more
             for rung in a.rungs if (a.variant, a.overrides, rung) in default]
    if not pairs:
        return []
    held_out = lambda arm, rung: [s["ridge_probe_mse"] for s in results[arm][rung].values()]  # noqa: E731
    lines = ["", "## More data, same updates", "", "| row | default data | " + " ".join(pairs[0][2])
             + " | ratio more / default |", "|---|---|---|---|"]
    for small, big, _ in pairs:
        lines.append(f"| {labels[small]} | {report.fmt(report.summarize(held_out(*small)), 2)} | "
                     f"{report.fmt(report.summarize(held_out(*big)), 2)} | "
                     f"{report.fmt_ratio(report.ratio_interval(held_out(*big), held_out(*small)))} |")
    return lines


def _verdict(r: dict, base: dict) -> str:
    """A row's held-out probe against LAPO's: better or worse when the 3-seed t-intervals separate."""
    if min(r["n"], base["n"]) < 3:
        return "fewer than 3 seeds"
    return "better, separated" if r["high"] < base["low"] else "worse, separated" if r["low"] > base["high"] \
        else "within noise"


def _clean_section(arms: list[Arm], labels: dict, results: dict) -> list[str]:
    """Rows run without distractors: their probes, the same row with distractors beside (ratio with /
    without, Welch interval on logs), and each LAOM row against LAPO within that condition."""
    clean = [(a, rung) for a in arms if a.clean for rung in a.rungs]
    if not clean:
        return []
    values = lambda key, arm, rung: [s[key] for s in results[arm][rung].values()]  # noqa: E731
    default = {(a.variant, a.overrides, rung): a.name for a in arms if not a.collect for rung in a.rungs}
    lines = ["", "## Without distractors", "",
             "The same rows on the collection without distractors (`--collect.env.preset=vanilla`, same seeds and "
             "sizes). With / without: ratio of geometric means of the held-out probe, 95% Welch interval on logs.",
             "", "| row | seeds | held-out ridge | online | held-out with distractors | with / without |",
             "|---|---|---|---|---|---|"]
    for a, rung in clean:
        ridge = values("ridge_probe_mse", a.name, rung)
        with_arm = default.get((a.variant, a.overrides, rung))
        with_ = values("ridge_probe_mse", with_arm, rung) if with_arm in results else []
        lines.append(f"| {labels[(a.name, rung)]} | {len(ridge)} | {report.fmt(report.summarize(ridge), 2)} | "
                     f"{report.fmt(report.summarize(values('online_probe_mse', a.name, rung)), 2)} | "
                     f"{report.fmt(report.summarize(with_), 2)} | "
                     f"{report.fmt_ratio(report.ratio_interval(with_, ridge))} |")
    lapo = next(((a.name, r) for a, r in clean if r == "lapo"), None)
    laom = [(a.name, r) for a, r in clean if r != "lapo"]
    if lapo:
        lines += ["", "Without distractors, against LAPO (held-out ridge probe):"]
        base = values("ridge_probe_mse", *lapo)
        for row in laom:
            ridge = values("ridge_probe_mse", *row)
            verdict = _verdict(report.summarize(ridge), report.summarize(base))
            lines.append(f"- {labels[row]} / {labels[lapo]} = {report.fmt_ratio(report.ratio_interval(ridge, base))}: "
                         f"{verdict}.")
    return lines


def write_report(out: str, results: dict, arms: list[Arm], baseline: tuple, dataset: str, command: str,
                 trend: tuple = ((), 0)) -> str:
    """trend: (points, step) of experiments.regime_trend.section."""
    labels = {(a.name, r.name): f"{a.name}: {r.label}" for a in arms for r in ladder_runs.rungs(a.variant)}
    rows = [(a.name, rung) for a in arms if not a.clean for rung in a.rungs]  # the rows with distractors
    values = lambda key, arm, rung: [s[key] for s in results[arm][rung].values()]  # noqa: E731
    ridge = {row: report.summarize(values("ridge_probe_mse", *row)) for row in rows}
    online = {row: report.summarize(values("online_probe_mse", *row)) for row in rows}
    chance = report.summarize([s["ridge_chance_mse"] for row in rows for s in results[row[0]][row[1]].values()])
    base = ridge.get(baseline)
    lines = ["# Regime search: where does LAOM beat LAPO with distractors?", "",
             f"Dataset: `{dataset}` (cheetah-run, the paper's distractors). Each row is a Fig. 6 ladder rung at a "
             "variant with overrides (`configs/regime_search.py`). Held-out: ridge probe latent(o_t, o_{t+1}) -> raw "
             "action, fit on the training split, scored on the eval split (unseen videos); chance (the training "
             f"mean) {chance.get('mean', float('nan')):.2f}. Online: the paper's metric, the linear probe on the "
             "training batch at the last step (LAOM's sees augmented views, so judge the rows on the held-out "
             "probe). Intervals: mean ± 95% t-interval over seeds; median [min, max] beside. vs LAPO: ratio of "
             "geometric means of the held-out probe to the baseline row's, 95% Welch interval on log values; "
             "'separated' when the t-intervals do not overlap (3 seeds each).", "",
             "| row | latent / heads / tau / aug. | seeds | held-out ridge | median [min, max] | online | "
             "held-out vs LAPO | verdict |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        r, o = ridge[row], online[row]
        first = next(iter(results[row[0]][row[1]].values()))
        if row == baseline or not base:
            ratio, verdict = "(baseline)" if row == baseline else "-", "-"
        else:
            ratio = report.fmt_ratio(report.ratio_interval(values("ridge_probe_mse", *row),
                                                           values("ridge_probe_mse", *baseline)))
            verdict = _verdict(r, base)
        lines.append(f"| {labels[row]} | {_settings(first['workdir'])} | {r['n']} | {report.fmt(r, 2)} | "
                     f"{report.fmt_range(r, 2)} | {report.fmt(o, 2)} | {ratio} | {verdict} |")
    better = [labels[row] for row in rows if row != baseline and base and min(ridge[row]["n"], base["n"]) >= 3
              and ridge[row]["high"] < base["low"]]
    lines += ["", "Verdict (held-out ridge probe, 3 seeds): " + (
        "better than the baseline LAPO with separated intervals: " + "; ".join(better) + "." if better else
        "no row is better than the baseline LAPO with separated intervals. No regime searched here shows "
        "LAOM beating LAPO; the trend below says whether more data, updates or pixels would (the paper: about "
        "100k updates on 5000 trajectories at 64 px).")]
    lines += _data_size_section(arms, rows, labels, results)
    lines += _clean_section(arms, labels, results)
    if trend[0]:  # the updates of the rows' last step (the baseline's, or any row's when it was not run)
        anchor = baseline if baseline in ridge else rows[0]
        first = next(iter(results[anchor[0]][anchor[1]].values()))
        lines += regime_trend.section(out, results, trend[0], trend[1], first["num_steps"])
    lines += ["", "Arms:", ""] + [f"- `{a.name}` ({a.variant}"
                                 + "".join(f", `{x}`" for x in a.overrides)
                                 + "".join(f", `--collect.{x}`" for x in a.collect) + f"): {a.label}" for a in arms]
    lines += ["", "Every pair, held-out ridge probe:"]
    lines += [f"- {x}" for x in report.orderings({labels[row]: ridge[row] for row in rows}, True)]
    lines += ["", "![held-out ridge probe per row](regime_search.png)", "", "Command:", "", "```", command, "```", ""]
    report.bar_plot(os.path.join(out, "regime_search.png"), [labels[row] for row in rows], [ridge[row] for row in rows],
                    "held-out ridge probe MSE", {"chance": chance.get("mean", float("nan"))}, horizontal=True,
                    title="Regime search, cheetah-run with distractors (lower is better)")
    return report.write(os.path.join(out, "regime_search.md"), lines)
