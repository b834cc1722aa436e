"""Report over pipeline summaries: returns (with 95% intervals over seeds) per method and label budget."""
from __future__ import annotations

import collections
import os

from lam_jax.evaluation import report


# The table's columns after the run counts: where each value is in a pipeline's summary.
COLUMNS = {"ret": ("eval", "normalized_return"), "ret_expert": ("eval", "expert_normalized_return"),
           "online": ("lam", "paper_metric", "online_latent_action_probe_mse"),
           "ridge": ("lam", "held_out", "latent_action_probe", "mse"),
           "eval_mse": ("lam", "held_out", "eval_action_mse")}


def write_pipeline_report(out: str, summaries: list[dict], command: str, references: dict | None = None,
                          title: str = "Downstream results") -> str:
    """results.md and returns.png: normalised return (paper's normaliser, and expert's) per task,
    method and k, with the online probe (paper metric) and eval action MSE of the LAMs.
    ``references``: {task: {"random": normalised return, "expert": normalised return}}."""
    groups = collections.defaultdict(list)  # the runs of each (task, method, k)
    for s in summaries:
        groups[(s["task"], s["method"], s["labeled"])].append(s)
    tasks = sorted({s["task"] for s in summaries})
    methods = list(dict.fromkeys(s["method"] for s in summaries))
    lines = [f"# {title}", "",
             "Normalised return: mean return over the evaluation episodes / the paper's normaliser (BC on the "
             "full labeled data), and / the expert's return. Intervals: mean ± 95% t-interval over seeds.", "",
             "| task | method | k | seeds | return / paper normaliser | return / expert | online probe (paper) "
             "| held-out ridge probe | eval action MSE |", "|---|---|---|---|---|---|---|---|---|"]
    stats = {}
    for (task, method, k), runs in sorted(groups.items()):
        cells = {c: report.summarize([report.dig(r, *path) for r in runs]) for c, path in COLUMNS.items()}
        stats[(task, method, k)] = cells["ret"]
        lines.append(f"| {task} | {method} | {k} | {len(runs)} | " + " | ".join(map(report.fmt, cells.values())) + " |")
    episodes = sorted({len(r["eval"]["returns"]) for r in summaries})
    lines += ["", f"Evaluation episodes per run: {', '.join(map(str, episodes))}; environment split: "
              f"{', '.join(sorted({r['eval']['env']['split'] for r in summaries}))}."]
    for task in tasks:
        for k in sorted({k for (t, _, k) in groups if t == task}):
            named = {m: stats[(task, m, k)] for m in methods if (task, m, k) in stats}
            for line in report.orderings(named, lower_is_better=False):
                lines.append(f"- {task}, k = {k}: {line}")
    if references:
        for task, refs in references.items():
            lines.append(f"- {task} reference points (normalised the paper's way): "
                         + ", ".join(f"{n} {v:.3f}" for n, v in refs.items()) + ".")
    _plot(out, tasks, methods, stats, references or {})
    lines += ["", "![returns](returns.png)", "", "Command:", "", "```", command, "```", ""]
    return report.write(os.path.join(out, "results.md"), lines)


def _plot(out, tasks, methods, stats, references):
    for task in tasks:
        ks = sorted({k for (t, _, k) in stats if t == task})
        if len(ks) > 1:
            series = {m: [stats.get((task, m, k), {}) for k in ks] for m in methods}
            report.line_plot(os.path.join(out, "returns.png"), ks, series, "labeled trajectories",
                             "normalised return", references.get(task), title=task)
        else:
            k = ks[0]
            present = [m for m in methods if (task, m, k) in stats]
            report.bar_plot(os.path.join(out, "returns.png"), present, [stats[(task, m, k)] for m in present],
                            "normalised return", references.get(task), title=f"{task}, k = {k}")
