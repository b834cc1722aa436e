"""Markdown tables and matplotlib figures for experiment results."""
from __future__ import annotations

import os
import sys

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


def write_probe_report(out: str, results: dict, dataset: str, args) -> str:
    os.makedirs(out, exist_ok=True)
    _probe_plot(results, os.path.join(out, "probe_mse.png"))
    _curves_plot(out, list(results), os.path.join(out, "curves.png"))
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
              "Command:", "", "```", "python -m experiments.compare_lam " + " ".join(sys.argv[1:]), "```", ""]
    path = os.path.join(out, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path
