"""The main job's report: a verdict per effect, the premise's probes, and downstream returns."""
from __future__ import annotations

import os

import numpy as np

from configs.ladder import PAPER_FIG6, PAPER_FIG6_CLEAN
from lam_jax.evaluation import report
from lam_jax.stages import downstream
from lam_jax.training import run_dir

LABELS = {"lapo": "LAPO", "laom": "LAOM", "laom_labels": "LAOM+sup", "idm": "IDM", "bc": "BC"}
CONDITION = {"with": "with distractors", "without": "without distractors"}


def lam_result(pretrained: dict, seed: int) -> dict:
    """What the report keeps of a LAM's report.json (or a pipeline's summary of it)."""
    probe = pretrained["held_out"]["latent_action_probe"]
    return {"seed": seed, "online": pretrained["paper_metric"]["online_latent_action_probe_mse"],
            "ridge": probe["mse"], "chance": probe["chance_mse"], "num_steps": pretrained["num_steps"]}


def verdict(separated: bool, as_expected: bool) -> str:
    """The paper's effect (or the expected ordering) seen, within noise, or seen reversed."""
    return ("reproduces" if as_expected else "does not: the opposite, separated") if separated else "within noise"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _fmt_random(s: dict) -> str:
    """Its interval is over episodes, not seeds."""
    return f"{s['mean']:.3f}" + (f" ± {s['ci95']:.3f}" if s["n"] > 1 else "")


def _ratio_row(effect: str, metric: str, paper: str, r: dict) -> str:
    sep = r.get("n", 0) >= 3 and (r["low"] > 1 or r["high"] < 1)
    return f"| {effect} | {metric} | {paper} | {report.fmt_ratio(r)} | {verdict(sep, r.get('ratio', 0) > 1)} |"


def _return_row(effect: str, a: dict, b: dict, a_name: str, b_name: str) -> str:
    """``a`` above ``b`` expected (normalised returns, intervals over seeds or episodes)."""
    here = ", ".join(f"{n} {_fmt_random(s) if n == 'random' else report.fmt(s)}" for n, s in ((a_name, a), (b_name, b)))
    return f"| {effect} | normalised return | - | {here} | {verdict(report.separated(a, b), a['mean'] > b['mean'])} |"


def write(out: str, results: dict, env_cfg, bc_steps: int | None = None) -> tuple[str, str]:
    """results.md, summaries.json (every run's result), probes.png, returns.png in ``out``; returns (path,
    the verdict table). ``bc_steps``: the BC budget, named in the report."""
    run_dir.write_json(os.path.join(out, "summaries.json"), results)
    method, k, ceiling = results["method"], results["labeled"], results["ceiling_labeled"]
    name, premise = LABELS.get(method, method), results["premise"]
    probes = {cond: {c: report.summarize([r[c] for r in premise[cond]]) for c in ("online", "ridge")}
              for cond in ("with", "without")}
    ratios = {c: report.ratio_interval([r[c] for r in premise["with"]], [r[c] for r in premise["without"]])
              for c in ("online", "ridge")}
    norm = downstream.normalizers(env_cfg)
    returns = {m: report.summarize([s["eval"]["normalized_return"] for s in results["runs"] if s["method"] == m])
               for m in (method, "bc")}
    random = report.summarize(np.asarray(results["random_policy_returns"]) / norm["paper"])
    lam_label, bc_label = f"BC on {name}'s latent actions", f"BC on the true actions of {ceiling} trajectories"
    rung = results.get("rung", method)
    paper = PAPER_FIG6.get(rung), PAPER_FIG6_CLEAN.get(rung)
    paper_ratio = f"{paper[0] / paper[1]:.2f}x ({paper[0]} / {paper[1]})" if all(paper) else "-"
    within = ratios["online"].get("n", 0) >= 2 and all(paper) and ratios["online"]["low"] <= paper[0] / paper[1] \
        <= ratios["online"]["high"]
    down = CONDITION[results["downstream_condition"]]
    table = "\n".join([
        "| effect | metric | the paper | here | verdict |", "|---|---|---|---|---|",
        _ratio_row(f"distractors degrade {name}'s latent actions", "held-out ridge probe MSE, with / without",
                   "-", ratios["ridge"]),
        _ratio_row(f"distractors degrade {name}'s latent actions", "online probe MSE (paper metric), with / without",
                   paper_ratio, ratios["online"]),
        _return_row(f"{lam_label} (decoder on k = {k}) beat a random policy, {down}", returns[method], random,
                    name, "random"),
        _return_row(f"{bc_label} beat a random policy, {down}", returns["bc"], random, "BC", "random"),
        _return_row(f"{bc_label} beat BC on {name}'s latent actions, {down}", returns["bc"], returns[method],
                    "BC", name)])
    lam_steps = sorted({r["num_steps"] for rs in premise.values() for r in rs})
    chance = float(np.mean([r["chance"] for r in premise["with"]]))
    data = results["datasets"]
    episodes = len(results["random_policy_returns"])
    lines = [f"# Main job: distractors and {name}'s latent actions, then the downstream stages", "",
             f"Datasets: with distractors `{data['with']}`, without `{data['without']}` (the same collection, "
             f"seeds and budget). {name} ({'/'.join(map(str, lam_steps))} updates per run) trained on both for "
             f"{_count(len(premise['with']), 'seed')}. Probe MSE on raw actions, mean ± 95% t-interval over seeds; "
             "ratios of geometric means with a 95% Welch interval on log values. The paper's Fig. 6 values are "
             "medians over 4 tasks. Verdict: *reproduces* when the intervals separate in the expected direction, "
             "*within noise* when they overlap (3 seeds or more).", "", "## Verdicts", "", table, ""]
    if paper_ratio != "-" and ratios["online"].get("n", 0) >= 2:
        lines += [f"On the paper's metric the interval {'includes' if within else 'excludes'} the paper's "
                  f"{paper_ratio.split(' ')[0]}.", ""]
    lines += ["## Latent-action probes", "",
              f"Held-out ridge probe: fitted on the training split, scored on the eval split (unseen videos); "
              f"chance (the training mean action): {chance:.2f}. Online probe: the paper's metric, on the training "
              "batch at the last update.", "",
              "| condition | seeds | online probe (paper metric) | held-out ridge probe |", "|---|---|---|---|"]
    lines += [f"| {CONDITION[c]} | {probes[c]['ridge']['n']} | {report.fmt(probes[c]['online'], 2)} | "
              f"{report.fmt(probes[c]['ridge'], 2)} |" for c in ("with", "without")]
    lines += ["", "![probes](probes.png)", "", f"## Downstream, {down}", "",
              f"Each seed's {name} through every stage: BC on its latent actions ({bc_steps} updates), the action "
              f"decoder on k = {k} labeled trajectories, then {_count(episodes, 'evaluation episode')} "
              f"({env_cfg.split} videos); BC from scratch on the true actions of every training trajectory "
              f"({ceiling}) is the ceiling of this data and budget. Returns normalised by the paper's normaliser "
              f"({norm['paper']:.0f}: BC on the full labeled data) and by the expert's return ({norm['expert']:.0f}); "
              f"the random policy's interval is over its {_count(episodes, 'episode')}.", "",
              "| policy | runs | return / paper normaliser | return / expert |", "|---|---|---|---|"]
    for label, m in ((f"{lam_label} + decoder", method), (bc_label, "bc")):
        s, x = returns[m], norm["paper"] / norm["expert"]
        lines.append(f"| {label} | {s['n']} | {report.fmt(s)} | {s['mean'] * x:.3f} |")
    lines += [f"| random policy | {_count(episodes, 'episode')} | {_fmt_random(random)} | "
              f"{random['mean'] * norm['paper'] / norm['expert']:.3f} |", "",
              "![returns](returns.png)", "", "Command:", "", "```", results["command"], "```", ""]
    report.grouped_bar_plot(os.path.join(out, "probes.png"), ["online probe (paper metric)", "held-out ridge probe"],
                            {CONDITION[c]: [probes[c]["online"], probes[c]["ridge"]] for c in ("with", "without")},
                            "probe MSE, raw actions (lower is better)", {"chance (held-out)": chance},
                            title=f"{name}: latent action -> action")
    report.bar_plot(os.path.join(out, "returns.png"), [f"BC on {name} latents", "BC on true actions", "random"],
                    [returns[method], returns["bc"], random], "normalised return (paper's normaliser)",
                    title=f"{env_cfg.task}, {down}")
    return report.write(os.path.join(out, "results.md"), lines), table
