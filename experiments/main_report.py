"""The main job's report: latent-action quality and downstream return per method, over seeds."""
from __future__ import annotations

import collections
import os

import numpy as np

from lam_jax.evaluation import report
from lam_jax.stages import downstream
from lam_jax.training import run_dir

LABELS = {"lapo": "LAPO", "laom": "LAOM", "laom_labels": "LAOM+sup", "idm": "IDM", "bc": "BC"}
# The paper's normalised returns on cheetah-run at k = 4 labeled trajectories (read off its figure).
PAPER_CHEETAH_K4 = {"laom": 0.31, "laom_labels": 0.25, "lapo": 0.19}


def few_run_statistics(by_method: dict, cols: dict, task: str) -> list[str]:
    """rliable's estimates (report.few_run_section) per method, one task."""
    runs = {c: {LABELS.get(m, m): {task: [report.dig(s, *path) for s in ss]} for m, ss in by_method.items()}
            for c, path in cols.items()}
    return report.few_run_section({"online probe": (2, True, runs["online"]),
                                   "held-out ridge probe": (2, True, runs["ridge"]),
                                   "normalised return": (3, False, runs["ret"])})


def write(out: str, summaries: list[dict], random_returns, env_cfg, dataset: str, command: str,
          bc_steps: int | None = None) -> tuple[str, str]:
    """results.md, summaries.json (every run), returns.png, probes.png in ``out``; returns (path, the
    markdown table). ``bc_steps``: the BC budget, named in the report."""
    norm = downstream.normalizers(env_cfg)
    run_dir.write_json(os.path.join(out, "summaries.json"), {"command": command, "runs": summaries,
                                                             "random_policy_returns": list(random_returns)})
    by_method = collections.defaultdict(list)
    for s in summaries:
        by_method[s["method"]].append(s)
    cols = {"online": ("lam", "paper_metric", "online_latent_action_probe_mse"),
            "ridge": ("lam", "held_out", "latent_action_probe", "mse"),
            "eval_mse": ("lam", "held_out", "eval_action_mse"),
            "ret": ("eval", "normalized_return"), "ret_expert": ("eval", "expert_normalized_return")}
    stats = {m: {c: report.summarize([report.dig(s, *path) for s in runs]) for c, path in cols.items()}
             for m, runs in by_method.items()}
    chances = [c for s in summaries if (c := report.dig(s, "lam", "held_out", "latent_action_probe", "chance_mse"))]
    chance = float(np.mean(chances)) if chances else None  # one eval split: the same for every run
    random_norm = float(np.mean(random_returns)) / norm["paper"]
    expert_norm = norm["expert"] / norm["paper"]
    k = summaries[0]["labeled"]
    eps = sorted({len(s["eval"]["returns"]) for s in summaries})
    lam_steps = sorted({s["lam"]["num_steps"] for s in summaries if s.get("lam", {}).get("num_steps")})
    budget = "".join([f"; {'/'.join(map(str, lam_steps))} LAM updates per run" if lam_steps else "",
                      f", {bc_steps} BC updates" if bc_steps else ""])
    header = ["| method | seeds | online probe (paper metric) | held-out ridge probe | eval action MSE | "
              "return / paper normaliser | return / expert |", "|---|---|---|---|---|---|---|"]
    rows = [f"| {LABELS.get(m, m)} | {st['ret']['n']} | {report.fmt(st['online'], 2)} | {report.fmt(st['ridge'], 2)} | "
            f"{report.fmt(st['eval_mse'], 2)} | {report.fmt(st['ret'])} | {report.fmt(st['ret_expert'])} |"
            for m, st in stats.items()]
    rows.append(f"| random policy | - | - | - | - | {random_norm:.3f} | {random_norm / expert_norm:.3f} |")
    table = "\n".join(header + rows)
    named = lambda c: {LABELS.get(m, m): st[c] for m, st in stats.items()}  # noqa: E731
    lines = ["# Main job: LAPO, LAOM and LAOM+supervision over seeds", "",
             f"Dataset: `{dataset}`; k = {k} labeled trajectories{budget}; {eps[0]} evaluation episodes per run "
             f"({env_cfg.split} videos, seeds from {summaries[0]['eval']['seeds'][0]}). Returns normalised by the "
             f"paper's normaliser ({norm['paper']:.0f}: BC on the full labeled data) and by the expert's return "
             f"({norm['expert']:.0f}). Intervals: mean ± 95% t-interval over seeds."
             + (f" Probe chance (the training mean action, on the eval split): {chance:.2f}." if chance else ""),
             "", table, "",
             "## What the intervals support", ""]
    for title, c, lower in (("Online probe (paper metric)", "online", True), ("Held-out ridge probe", "ridge", True),
                            ("Normalised return", "ret", False)):
        lines += [f"{title}:"] + [f"- {x}" for x in report.orderings(named(c), lower)] + [""]
    lines += few_run_statistics(by_method, cols, summaries[0].get("task", env_cfg.task))
    lines += [f"A uniformly random policy scores {random_norm:.3f} and the expert {expert_norm:.3f} on the paper's "
              "scale.", ""]
    if env_cfg.task == "cheetah-run" and k == 4:
        paper = ", ".join(f"{LABELS[m]} ≈ {v:.2f}" for m, v in PAPER_CHEETAH_K4.items())
        lines += [f"For scale, the paper at k = 4 on cheetah-run (5000 trajectories, 10 epochs, 64 px): {paper}.", ""]
    lines += ["![returns](returns.png)", "", "![probes](probes.png)", "", "Command:", "", "```",
              command, "```", ""]
    labels = [LABELS.get(m, m) for m in stats]
    report.bar_plot(os.path.join(out, "returns.png"), labels, [st["ret"] for st in stats.values()],
                    "normalised return (paper's normaliser)", {"expert": expert_norm, "random policy": random_norm},
                    title=f"{env_cfg.task}, k = {k}, {eps[0]} episodes per seed")
    report.bar_plot(os.path.join(out, "probes.png"), labels, [st["online"] for st in stats.values()],
                    "online probe MSE (paper metric)", {"chance": chance} if chance else None,
                    title="latent -> action, lower is better")
    return report.write(os.path.join(out, "results.md"), lines), table
