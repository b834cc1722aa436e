"""The paper's Fig. 9a: how well supervision recovers true actions, IDM vs LAOM+supervision.

For each label budget k and seed: the eval-split action MSE (squared error summed over action
dimensions, averaged over transitions, as the reference's ``eval_true_action_mse_loss``) of a
supervised IDM trained on the k labeled trajectories alone, and of LAOM+supervision trained on
all trajectories with those k labeled.
"""
from __future__ import annotations

import os

from configs import fig9a as fig9a_config
from experiments import parallel
from lam_jax.evaluation import report

LABELS = fig9a_config.get_config().methods  # method -> label


def job(method: str, k: int, seed: int, dataset: str, variant: str, out: str, extra=()) -> parallel.Job:
    """The pretraining run of one method, label budget and seed."""
    return parallel.pretrain_job(method, variant, [f"data.labeled_trajectories={k}", f"seed={seed}", *extra],
                                 os.path.join(out, method, f"k{k}_s{seed}"), dataset)


def result(pretrained: dict, workdir: str) -> dict:
    """What Fig. 9a keeps of a run's report.json."""
    chance = pretrained["held_out"]["latent_action_probe"]  # eval-split MSE of the train split's mean action, per dim
    return {"eval_action_mse": pretrained["held_out"]["eval_action_mse"], "num_steps": pretrained["num_steps"],
            "workdir": workdir, "chance_action_mse": chance["chance_mse"] * len(chance["mse_per_dim"])}


def write_report(out: str, results: dict, budgets, dataset: str, command: str) -> str:
    """fig9a.md and fig9a.png: eval action MSE vs k per method, 95% intervals over seeds."""
    series = {LABELS[m]: [report.summarize([s["eval_action_mse"] for s in results[m][str(k)].values()])
                          for k in budgets] for m in results}
    runs = [r for m in results for per_k in results[m].values() for r in per_k.values()]
    chance = report.summarize([r["chance_action_mse"] for r in runs])["mean"]  # the same for all: one eval split
    lines = ["# Fig. 9a at CPU scale: eval-split action MSE, IDM vs LAOM+supervision", "",
             f"Dataset: `{dataset}`. Squared error summed over action dimensions, averaged over every transition "
             "of the eval split (unseen videos); the targets are the dataset's raw expert actions. "
             f"Mean ± 95% t-interval over seeds. Chance (the train split's mean action): {chance:.2f}. "
             f"LAM updates per run: {', '.join(sorted({str(r['num_steps']) for r in runs}))}.", "",
             "| k | " + " | ".join(series) + " |", "|---|" + "---|" * len(series)]
    for i, k in enumerate(budgets):
        lines.append(f"| {k} | " + " | ".join(report.fmt(series[name][i], 2) for name in series) + " |")
    lines += [""]
    for i, k in enumerate(budgets):
        for line in report.orderings({name: s[i] for name, s in series.items()}, lower_is_better=True):
            lines.append(f"- k = {k}: {line}")
    lines += [""] + report.few_run_section(
        {f"k = {k}": (2, True, {LABELS[m]: {"task": [s["eval_action_mse"] for s in results[m][str(k)].values()]}
                                for m in results}) for k in budgets})
    report.line_plot(os.path.join(out, "fig9a.png"), list(budgets), series, "labeled trajectories",
                     "eval action MSE (sum over dims)", reference_lines={"chance (train mean action)": chance},
                     title="lower is better")
    lines += ["![fig9a](fig9a.png)", "", "Command:", "", "```", command, "```", ""]
    return report.write(os.path.join(out, "fig9a.md"), lines)
