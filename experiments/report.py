"""Markdown tables and matplotlib figures for experiment results."""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lam_jax.metrics import read_jsonl  # noqa: E402


def _probe_plot(results: dict, path: str) -> None:
    methods = list(results)
    mses = [results[m]["latent_action_probe"]["mse"] for m in methods]
    chance = results[methods[0]]["latent_action_probe"]["chance_mse"]
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(methods), 3.2))
    ax.bar(methods, mses, color=["#888", "#3a7", "#37a", "#a73"][:len(methods)])
    ax.axhline(chance, ls="--", c="k", lw=1, label="chance (predict mean)")
    ax.set_ylabel("latent-action probe MSE (eval split)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _curves_plot(out: str, methods, path: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for m in methods:
        rows = read_jsonl(os.path.join(out, m, "metrics.jsonl"))
        steps = [r["step"] for r in rows]
        objective = "fdm_loss" if "fdm_loss" in rows[0] else "labeled_action_mse"
        axes[0].plot(steps, [r[objective] for r in rows], label=f"{m} ({objective})")
        axes[1].plot(steps, [r["probe/action_mse"] for r in rows], label=m)
    axes[0].set_title("objective (each method's own scale)")
    axes[0].set_yscale("log")
    axes[1].set_title("online probe: latent -> action MSE")
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_probe_report(out: str, results: dict, dataset: str, command: str, figures_from: str | None = None) -> str:
    """report.md, probe_mse.png and curves.png in ``out``; training curves read from ``figures_from``."""
    os.makedirs(out, exist_ok=True)
    _probe_plot(results, os.path.join(out, "probe_mse.png"))
    _curves_plot(figures_from or out, list(results), os.path.join(out, "curves.png"))
    first = next(iter(results.values()))
    lines = ["# Latent-action quality: linear probe on held-out episodes", "",
             f"Dataset: `{dataset}` (eval split: unseen background videos).",
             f"Budget per method: {first['num_steps']} steps x batch {first['batch_size']}.", "",
             "| method | probe MSE (eval) | chance MSE | MSE / chance | per-dimension MSE |",
             "|---|---|---|---|---|"]
    for m, r in results.items():
        p = r["latent_action_probe"]
        dims = ", ".join(f"{v:.3f}" for v in p["mse_per_dim"])
        lines.append(f"| {m} | {p['mse']:.4f} | {p['chance_mse']:.4f} | {p['mse'] / p['chance_mse']:.3f} | {dims} |")
    lines += ["", "![probe MSE](probe_mse.png)", "", "![training curves](curves.png)", "",
              "Command:", "", "```", command, "```", ""]
    path = os.path.join(out, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def _mean_std(values):
    import numpy as np
    return float(np.mean(values)), float(np.std(values))


def write_pipeline_report(out: str, summaries: list[dict], command: str = "") -> str:
    """Table and plots over pipeline summaries: normalised return vs labeled trajectories, probe MSE."""
    import collections
    groups = collections.defaultdict(list)
    for s in summaries:
        groups[(s["task"], s["method"], s["labeled"])].append(s)
    tasks = sorted({s["task"] for s in summaries})
    methods = list(dict.fromkeys(s["method"] for s in summaries))
    lines = ["# Downstream results", "",
             "Normalised return = mean eval return / expert reference return (eval split: unseen videos).", "",
             "| task | method | labeled k | seeds | normalised return | latent-action probe MSE |", "|---|---|---|---|---|---|"]
    for (task, method, k), runs in sorted(groups.items()):
        ret = _mean_std([r["eval"]["normalized_return"] for r in runs])
        probes = [r["latent_action_probe"]["mse"] for r in runs if r.get("latent_action_probe")]
        probe = f"{_mean_std(probes)[0]:.4f}" if probes else "-"
        lines.append(f"| {task} | {method} | {k} | {len(runs)} | {ret[0]:.3f} ± {ret[1]:.3f} | {probe} |")
    fig, axes = plt.subplots(1, len(tasks) + 1, figsize=(4.5 * (len(tasks) + 1), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for method in methods:
            ks = sorted(k for (t, m, k) in groups if t == task and m == method)
            stats = [_mean_std([r["eval"]["normalized_return"] for r in groups[(task, method, k)]]) for k in ks]
            if ks:
                ax.errorbar(ks, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o", capsize=3, label=method)
        ax.set_xscale("log", base=2)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("labeled trajectories")
        ax.set_ylabel("normalised return")
        ax.set_title(task)
        ax.legend(fontsize=8)
    ax = axes[0][-1]
    probe_methods = [m for m in methods if any(s.get("latent_action_probe") for s in summaries if s["method"] == m)]
    ax.bar(probe_methods, [_mean_std([s["latent_action_probe"]["mse"] for s in summaries
                                      if s["method"] == m and s.get("latent_action_probe")])[0] for m in probe_methods])
    ax.set_ylabel("latent-action probe MSE")
    ax.set_title("probe MSE (all tasks, budgets)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "returns.png"), dpi=120)
    plt.close(fig)
    lines += ["", "![returns](returns.png)", "", "Command:", "", "```", command, "```", ""]
    path = os.path.join(out, "results.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path
