"""The paper's Fig. 6 ladder: from LAPO to LAOM one modification at a time, then supervision.

Each rung is a method and config overrides on top of a variant (``small`` at CPU scale). For
every rung and seed it records the paper's metric (the online linear probe latent -> action on
the training batch at the last step) and our held-out ridge probe (eval split, unseen videos).
"""
from __future__ import annotations

import os

from configs.ladder import PAPER_FIG6, PAPER_FIG6_CLEAN
from experiments.ladder_runs import Rung
from lam_jax.evaluation import report


def clean_section(out: str, results: dict, clean: dict, ladder: list[Rung], clean_dataset: str) -> list[str]:
    """The premise: each rung run on the data without distractors too; both conditions side by side,
    the ratio distracted / clean with a Welch interval on log values, the paper's beside; a plot."""
    both = [r for r in ladder if r.name in clean]
    values = lambda res, r, key: [s[key] for s in res[r.name].values()]  # noqa: E731
    lines = ["", "## With and without distractors", "",
             f"The same rungs on data without distractors (`{clean_dataset}`), "
             "same seeds and budget. Ratio: geometric mean with distractors / geometric mean without, with "
             "a 95% Welch interval on the log values (each condition its own variance). The paper's Fig. 6 "
             "(medians over 4 tasks): LAPO 22.09 with, 2.55 without (8.66x); LAOM 2.74 with, 1.93 without "
             "(1.42x).", ""]
    for title, key in (("Online probe (paper metric)", "online_probe_mse"),
                       ("Held-out ridge probe", "ridge_probe_mse")):
        lines += [f"{title}:", "", "| rung | with distractors | without | ratio with / without | "
                  "paper with / without |", "|---|---|---|---|---|"]
        for r in both:
            with_, without = values(results, r, key), values(clean, r, key)
            paper = (f"{PAPER_FIG6[r.name]} / {PAPER_FIG6_CLEAN[r.name]} = "
                     f"{PAPER_FIG6[r.name] / PAPER_FIG6_CLEAN[r.name]:.2f}x" if r.name in PAPER_FIG6_CLEAN else "-")
            lines.append(f"| {r.label} | {report.fmt(report.summarize(with_), 2)} | "
                         f"{report.fmt(report.summarize(without), 2)} | "
                         f"{report.fmt_ratio(report.ratio_interval(with_, without))} | {paper} |")
        named = {f"{r.label}, {cond}": report.summarize(values(res, r, key))
                 for r in both for cond, res in (("with", results), ("without", clean))}
        lines += ["", "Every pair, " + title.lower() + ":"] + [f"- {x}" for x in report.orderings(named, True)] + [""]
    report.grouped_bar_plot(os.path.join(out, "ladder_clean.png"), [r.label for r in both],
                            {f"{c} distractors": [report.summarize(values(res, r, "online_probe_mse")) for r in both]
                             for c, res in (("with", results), ("without", clean))},
                            "online probe MSE (paper metric, raw actions)",
                            title="Distractors: online probe with and without (lower is better)")
    return lines + ["![with and without distractors](ladder_clean.png)"]


def budget_section(out: str, budget: dict, ladder: list[Rung], steps) -> list[str]:
    """budget: {rung: {seed: {step: point}}} -> a table per probe and a plot."""
    rungs = [r for r in ladder if r.name in budget]
    n_seeds = min(len(budget[r.name]) for r in rungs)
    cell = lambda r, s, key: report.summarize([seeds[str(s)][key] for seeds in budget[r.name].values()])  # noqa: E731
    lines = ["", "## Budget", "",
             f"The same runs' probes at {', '.join(map(str, steps))} updates, from checkpoints of one run per seed "
             f"trained to {max(steps)} updates (its schedule: warm-up, then decay to zero at {max(steps)}; the "
             "earlier points are mid-schedule, not separately tuned runs). "
             f"Seeds per rung: {n_seeds}" + (" (fewer than 3, for time: the t-intervals are wide and no ordering "
                                              "is claimed from them)." if n_seeds < 3 else "."), ""]
    series = {}
    for title, key in (("online probe (paper metric)", "online_probe_mse"),
                       ("held-out ridge probe", "ridge_probe_mse")):
        lines += [f"{title[0].upper()}{title[1:]}:", "",
                  "| rung | " + " | ".join(f"{s} updates" for s in steps) + " |", "|---|" + "---|" * len(steps)]
        for r in rungs:
            lines.append(f"| {r.label} | " + " | ".join(report.fmt(cell(r, s, key), 2) for s in steps) + " |")
            series[f"{r.label}, {title.split(' (')[0]}"] = [cell(r, s, key) for s in steps]
        if len(rungs) == 2:  # the gap between the two rungs at each budget: does it shrink, hold or grow?
            gaps = [cell(rungs[1], s, key)["mean"] - cell(rungs[0], s, key)["mean"] for s in steps]
            lines.append(f"| {rungs[1].label} minus {rungs[0].label} (means) | "
                         + " | ".join(f"{g:+.2f}" for g in gaps) + " |")
        lines.append("")
    report.line_plot(os.path.join(out, "ladder_budget.png"), list(steps), series, "updates", "probe MSE",
                     title="Probes against budget, with distractors (lower is better)")
    return lines + ["![budget](ladder_budget.png)"]


def write_report(out: str, results: dict, ladder: list[Rung], dataset: str, command: str, notes=(),
                 clean: dict | None = None, clean_dataset: str = "", budget: dict | None = None,
                 budget_steps=()) -> str:
    """ladder.md, ladder.png: per rung, both metrics with 95% intervals over seeds; with ``clean``
    (the results of some rungs on data without distractors) a section comparing the conditions."""
    labels = [r.label for r in ladder]
    online = [report.summarize([s["online_probe_mse"] for s in results[r.name].values()]) for r in ladder]
    ridge = [report.summarize([s["ridge_probe_mse"] for s in results[r.name].values()]) for r in ladder]
    chance = report.summarize([s["ridge_chance_mse"] for r in ladder for s in results[r.name].values()])
    lines = ["# The Fig. 6 ladder at CPU scale", "",
             f"Dataset: `{dataset}`. Paper metric: the online linear probe latent -> raw action on the training "
             "batch at the last step (the reference's `action_probe_mse_loss`). Held-out: ridge probe "
             "latent(o_t, o_{t+1}) -> action fit on the training split, scored on the eval split (unseen videos). "
             f"Chance (predicting the training mean) on the eval split: {chance.get('mean', float('nan')):.2f}. "
             "Intervals: mean ± 95% t-interval over seeds; median [min, max] beside.", "",
             "| rung | seeds | online probe (paper metric) | median [min, max] | held-out ridge probe | "
             "median [min, max] | paper (Fig. 6) |", "|---|---|---|---|---|---|---|"]
    for r, o, h in zip(ladder, online, ridge):
        paper = PAPER_FIG6.get(r.name)
        lines.append(f"| {r.label} | {o['n']} | {report.fmt(o, 2)} | {report.fmt_range(o, 2)} | {report.fmt(h, 2)} | "
                     f"{report.fmt_range(h, 2)} | {paper if paper is not None else '-'} |")
    named_online = {r.label: o for r, o in zip(ladder, online)}
    named_ridge = {r.label: h for r, h in zip(ladder, ridge)}
    by_name = {r.name: r.label for r in ladder}
    lines += ["", "## What holds up", ""]
    for metric, named in (("online probe", named_online), ("held-out ridge probe", named_ridge)):
        for a_name, b_name in (("lapo", "augment"), ("lapo", "supervision"), ("augment", "supervision")):
            if a_name in by_name and b_name in by_name:
                a, b = named[by_name[a_name]], named[by_name[b_name]]
                verdict = "separated" if report.separated(a, b) else "within noise"
                lines.append(f"- {metric}: {by_name[a_name]} / {by_name[b_name]} = {a['mean'] / b['mean']:.2f}x "
                             f"({a['mean']:.2f} vs {b['mean']:.2f}; {verdict}).")
    for title, named in (("online probe", named_online), ("held-out ridge probe", named_ridge)):
        lines += ["", f"Every pair of rungs, {title}:"] + [f"- {x}" for x in report.orderings(named, True)]
    runs = lambda key: {r.label: {"task": [s[key] for s in results[r.name].values()]} for r in ladder}  # noqa: E731
    lines += [""] + report.few_run_section({"online probe": (2, True, runs("online_probe_mse")),
                                            "held-out ridge probe": (2, True, runs("ridge_probe_mse"))}, "rung")
    if clean:
        lines += clean_section(out, results, clean, ladder, clean_dataset)
    if budget:
        lines += budget_section(out, budget, ladder, budget_steps)
    lines += ["", *notes, "", "![ladder](ladder.png)", "", "![ladder, held-out](ladder_ridge.png)", "",
              "Command:", "", "```", command, "```", ""]
    report.bar_plot(os.path.join(out, "ladder.png"), labels, online, "online probe MSE (paper metric, raw actions)",
                    {"chance (eval split)": chance.get("mean", float("nan"))}, horizontal=True,
                    title="Latent-action quality, cheetah-run with distractors (lower is better)")
    report.bar_plot(os.path.join(out, "ladder_ridge.png"), labels, ridge, "held-out ridge probe MSE",
                    {"chance": chance.get("mean", float("nan"))}, horizontal=True,
                    title="Held-out ridge probe, eval split (unseen videos)")
    return report.write(os.path.join(out, "ladder.md"), lines)
