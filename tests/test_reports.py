import json
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats as scipy_stats

from experiments import fig9a_report, ladder_report, ladder_runs, main_report
from configs import methods
from lam_jax.evaluation import report
from lam_jax.training import run_dir


def _runs(values, chance=200.0):
    return {str(s): {"eval_action_mse": v, "chance_action_mse": chance, "num_steps": 1000}
            for s, v in enumerate(values)}


def test_orderings_are_claimed_only_where_three_seed_intervals_separate():
    a, b, c = report.summarize([1.0, 1.1, 0.9]), report.summarize([5.0, 5.2, 4.8]), report.summarize([0.5, 9.0, 3])
    lines = report.orderings({"A": a, "B": b, "C": c}, lower_is_better=True)
    assert lines[0] == "Separated (non-overlapping 95% intervals): A better than B."
    assert "A vs C" in lines[1] and "B vs C" in lines[1]
    two_seeds = report.summarize([1.0, 1.01])  # far apart, but 2 seeds are not enough to claim an ordering
    assert not report.separated(two_seeds, report.summarize([9.0, 9.01]))


def test_fig9a_report_has_the_table_chance_and_plot(tmp_path):
    results = {"idm": {"2": _runs([130, 136, 137]), "4": _runs([80, 85, 90])},
               "laom_labels": {"2": _runs([210, 212, 214]), "4": _runs([60, 100, 140])}}
    path = fig9a_report.write_report(str(tmp_path), results, [2, 4], "data/x",
                                     "python -m experiments.fig9a --seeds=0,1,2")
    text = open(path).read()
    assert "Chance (the train split's mean action): 200.00. LAM updates per run: 1000." in text
    assert "| 2 | 134.33 ± " in text and "| 4 | 85.00 ± 12.42 | 100.00 ± " in text
    assert "- k = 2: Separated (non-overlapping 95% intervals): IDM (labeled data only) better than" in text
    assert "- k = 4: Within noise" in text
    # rliable's estimates per k: IDM's IQM at k = 2 is its mean (3 runs); LAOM+sup's k = 4 runs overlap IDM's
    assert "| method | k = 2 IQM | k = 4 IQM |" in text and "| IDM (labeled data only) | 134.33 [" in text
    assert ("Probability of improvement, k = 4:\n"
            "- P(IDM (labeled data only) better than LAOM+supervision) = 0.67") in text
    assert (tmp_path / "fig9a.png").stat().st_size > 1000


def test_a_finished_run_is_reused_only_for_the_same_settings(tmp_path):
    config = {"num_steps": 1000, "workdir": str(tmp_path), "model": {"latent_dim": 128}, "num_devices": 1}
    assert run_dir.finished_report(str(tmp_path), config) is None  # nothing there yet
    run_dir.claim(str(tmp_path), config)
    assert run_dir.finished_report(str(tmp_path), config) is None  # started, not finished
    (tmp_path / "report.json").write_text(json.dumps({"probe": 1.5}))
    assert run_dir.finished_report(str(tmp_path), {**config, "num_devices": 4}) == {"probe": 1.5}
    for changed in ({"num_steps": 500}, {"model": {"latent_dim": 1024}}):
        with pytest.raises(run_dir.ConfigMismatchError, match=list(changed)[0]):
            run_dir.finished_report(str(tmp_path), {**config, **changed})


def _lam(seed, online, ridge):
    return {"seed": seed, "online": online, "ridge": ridge, "chance": 35.2, "num_steps": 1500}


def _pipeline(method, seed, ret):
    return {"method": method, "labeled": 4 if method == "lapo" else 32, "seed": seed,
            "eval": {"normalized_return": ret, "returns": [ret * 840.0] * 10}}


def test_main_report_gives_a_verdict_per_effect_from_the_intervals(tmp_path):
    results = {"datasets": {"with": "data/w", "without": "data/wo"}, "method": "lapo", "rung": "lapo",
               "labeled": 4, "ceiling_labeled": 32, "downstream_condition": "without", "command": "python -m x",
               # distractors: held-out 20, 24, 28 against 2, 2.2, 2.4; online 30, 31, 32 against 25, 35, 30
               "premise": {"with": [_lam(s, 30.0 + s, 20.0 + 4 * s) for s in range(3)],
                           "without": [_lam(s, o, 2.0 + 0.2 * s) for s, o in enumerate((25.0, 35.0, 30.0))]},
               # BC on true actions well above the random policy; LAPO's latents level with it
               "runs": [_pipeline("lapo", s, r) for s, r in enumerate((0.002, 0.010, 0.004))]
               + [_pipeline("bc", s, r) for s, r in enumerate((0.30, 0.35, 0.40))],
               "random_policy_returns": [3.0, 4.0, 5.0, 3.5, 4.5, 3.0, 4.0, 5.0, 3.5, 4.5]}
    env_cfg = SimpleNamespace(task="cheetah-run", preset="vanilla", split="train")
    path, table = main_report.write(str(tmp_path), results, env_cfg, bc_steps=1000)
    rows = {tuple(c.strip() for c in line.strip("|").split("|")[:2]): line.rsplit("|", 2)[1].strip()
            for line in table.splitlines()[2:]}
    ridge = report.ratio_interval([20, 24, 28], [2.0, 2.2, 2.4])
    assert ridge["low"] > 1
    assert rows["distractors degrade LAPO's latent actions", "held-out ridge probe MSE, with / without"] == "reproduces"
    assert rows["distractors degrade LAPO's latent actions",
                "online probe MSE (paper metric), with / without"] == "within noise"
    verdicts = [line.rsplit("|", 2)[1].strip() for line in table.splitlines()[4:]]
    assert verdicts == ["within noise", "reproduces", "reproduces"]  # LAPO vs random, BC vs random, BC vs LAPO
    text = open(path).read()
    assert f"| {report.fmt_ratio(ridge)} | reproduces |" in text and "8.66x (22.09 / 2.55)" in text
    assert "On the paper's metric the interval excludes the paper's 8.66x." in text  # about 1.04x
    assert "| with distractors | 3 | 31.00 ± 2.48 | 24.00 ± 9.94 |" in text
    assert "| random policy | 10 episodes | 0.005 ± 0.001 |" in text  # over episodes: 4.0 / 840
    assert "BC on its latent actions (1000 updates)" in text
    assert run_dir.read_json(str(tmp_path / "summaries.json")) == results  # what --from_results rebuilds from
    assert (tmp_path / "returns.png").stat().st_size > 1000 and (tmp_path / "probes.png").stat().st_size > 1000
    # an effect seen the other way round is said so
    flipped = dict(results, runs=[_pipeline("lapo", s, 0.5 + 0.01 * s) for s in range(3)] + results["runs"][3:])
    _, table = main_report.write(str(tmp_path), flipped, env_cfg)
    assert table.splitlines()[-1].endswith("| does not: the opposite, separated |")


def test_experiment_configs_list_their_runs_and_budgets_at_small_only():
    from configs import fig9a, main
    assert main.get_config("small").lam_budget == ("num_steps=1500", "warmup_steps=450")
    assert main.get_config("smoke").lam_budget == () and fig9a.get_config("paper").lam_budget == ()
    rungs = {r.name: r for r in ladder_runs.rungs("paper")}
    assert rungs["latent"].overrides == ("model.latent_dim=8192", "max_offset=10")
    assert rungs["supervision"].method == "laom_labels"
    assert ladder_runs.rungs("small")[2].overrides == ("model.latent_dim=1024", "max_offset=10")
    fdm = methods.lam_config("laom", "small", overrides=rungs["latent_fdm"].overrides).model  # every key exists
    assert (fdm.latent_dim, fdm.augment, fdm.encoder_norm_out) == (8192, False, True)
    assert (main.get_config("small").rung, main.get_config("small").clean_preset) == ("lapo", "vanilla")


def _ladder_runs(online, ridge):
    return {str(s): {"online_probe_mse": o, "ridge_probe_mse": r, "ridge_chance_mse": 35.0}
            for s, (o, r) in enumerate(zip(online, ridge))}


def test_ladder_report_compares_the_conditions_with_ratio_intervals(tmp_path):
    rungs = [r for r in ladder_runs.rungs("small") if r.name in ("lapo", "augment")]
    with_ = {"lapo": _ladder_runs([20.0, 22.0, 24.0], [18.0, 19.0, 20.0]),
             "augment": _ladder_runs([30.0, 31.0, 32.0], [28.0, 28.0, 28.0])}
    without = {"lapo": _ladder_runs([4.0, 5.0, 6.0], [2.0, 2.5, 3.0]),
               "augment": _ladder_runs([30.0, 31.0, 32.0], [28.0, 28.0, 28.0])}
    path = ladder_report.write_report(str(tmp_path), with_, rungs, "data/x", "python -m experiments.ladder", (),
                                      without, "data/vanilla")
    text = open(path).read()
    assert "## With and without distractors" in text and "`data/vanilla`" in text
    # LAPO: geometric means (20*22*24)^(1/3) / (4*5*6)^(1/3) = 4.45x, with the Welch interval on logs
    row = next(line for line in text.splitlines() if line.startswith("| LAPO (k=1, latent 128) | 22.00 ± 4.97 | 5.00"))
    assert f"| {report.fmt_ratio(report.ratio_interval([20.0, 22.0, 24.0], [4.0, 5.0, 6.0]))} |" in row
    assert "| 4.45x [2.90, 6.83] |" in row and "| 22.09 / 2.55 = 8.66x |" in row
    assert "| 1.00x [" in text and "2.74 / 1.93 = 1.42x" in text
    assert "LAPO (k=1, latent 128), without better than LAPO (k=1, latent 128), with" in text
    assert "| rung | online probe IQM | held-out ridge probe IQM |" in text
    assert "| LAPO (k=1, latent 128) | 22.00 [20.00, 24.00] | 19.00 [18.00, 20.00] |" in text
    assert (tmp_path / "ladder_clean.png").stat().st_size > 1000


def test_ratio_interval_is_welch_on_log_values():
    r = report.ratio_interval([2.0, 2.0, 2.0], [1.0, 1.0, 1.0])
    assert (r["ratio"], r["low"], r["high"]) == (2.0, 2.0, 2.0)
    a, b = [20.0, 25.0, 30.0], [2.0, 2.5, 2.2]
    r = report.ratio_interval(a, b)
    la, lb = np.log(a), np.log(b)
    va, vb = la.var(ddof=1) / 3, lb.var(ddof=1) / 3
    dof = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 2)
    half = scipy_stats.t.ppf(0.975, dof) * np.sqrt(va + vb)
    assert r["ratio"] == pytest.approx(np.exp(la.mean() - lb.mean()))
    assert (r["low"], r["high"]) == pytest.approx((r["ratio"] * np.exp(-half), r["ratio"] * np.exp(half)))
    # coverage at n = 3: lognormal samples whose true ratio is 10; the interval holds it ~95% of the time
    rng = np.random.default_rng(0)
    hits = [(lambda q: q["low"] <= 10 <= q["high"])(report.ratio_interval(np.exp(rng.normal(np.log(10), 0.3, 3)),
                                                                          np.exp(rng.normal(0, 0.1, 3))))
            for _ in range(2000)]
    assert 0.93 < np.mean(hits) < 0.97
    assert report.ratio_interval([], [1.0]) == {"n": 0} and report.fmt_ratio({"n": 0}) == "-"


def test_ladder_report_has_the_budget_curve(tmp_path):
    rungs = [r for r in ladder_runs.rungs("small") if r.name in ("lapo", "augment")]
    results = {r.name: _ladder_runs([20.0, 22.0, 24.0], [18.0, 19.0, 20.0]) for r in rungs}
    point = lambda o, h: {"online_probe_mse": o, "ridge_probe_mse": h}  # noqa: E731
    budget = {"lapo": {str(s): {"1000": point(30.0 + s, 25.0), "3000": point(25.0, 22.0 + s)} for s in range(3)},
              "augment": {str(s): {"1000": point(33.0, 26.0), "3000": point(24.0, 20.0)} for s in range(3)}}
    text = open(ladder_report.write_report(str(tmp_path), results, rungs, "data/x", "cmd", (), budget=budget,
                                           budget_steps=[1000, 3000])).read()
    assert "| rung | 1000 updates | 3000 updates |" in text
    assert "| LAPO (k=1, latent 128) | 31.00 ± 2.48 | 25.00 ± 0.00 |" in text  # online probe
    assert "| LAPO (k=1, latent 128) | 25.00 ± 0.00 | 23.00 ± 2.48 |" in text  # held-out ridge probe
    assert "Seeds per rung: 3." in text and "fewer than 3, for time" not in text
    # LAOM's gap to LAPO per budget, online probe then held-out: 33 - 31, 24 - 25; 26 - 25, 20 - 23
    assert "| + augmentations (LAOM) minus LAPO (k=1, latent 128) (means) | +2.00 | -1.00 |" in text
    assert "| + augmentations (LAOM) minus LAPO (k=1, latent 128) (means) | +1.00 | -3.00 |" in text
    assert (tmp_path / "ladder_budget.png").stat().st_size > 1000
    assert ladder_runs.budget_overrides([1000, 3000, 10000]) == ("num_steps=10000", "save_every=1000",
                                                                   "keep_every=1000", "log_every=100")


def test_an_experiments_cost_counts_only_invocations_that_trained(tmp_path):
    from experiments import cost
    out = str(tmp_path)
    assert cost.Meter().add(out, 0)["runs_made"] == 0 and cost.read(out) is None  # reuse only: nothing kept
    meter = cost.Meter()
    sum(i * i for i in range(300_000))  # some CPU time
    first = meter.add(out, 2)
    assert first["runs_made"] == 2 and first["invocations"] == 1 and first["cpu_s"] > 0
    assert cost.Meter().add(out, 0) == first  # a later reuse leaves the totals, and so the report, unchanged
    with open(tmp_path / cost.FILE) as f:  # a note added by hand (what was not measured) outlives later runs
        noted = dict(json.load(f), note="one run not counted")
    run_dir.write_json(str(tmp_path / cost.FILE), noted)
    second = cost.Meter().add(out, 1)
    assert second["runs_made"] == 3 and second["invocations"] == 2 and second["cpu_s"] >= first["cpu_s"]
    assert cost.read(out)["note"] == "one run not counted"
    plain = {k: v for k, v in second.items() if k != "note"}
    assert cost.line(dict(plain, cpu_s=6000.0, wall_s=3600.0)) == (
        "Compute on this machine: 100 CPU-minutes, 60 minutes wall, for the 3 runs trained here (2 invocations of "
        "the command; reused runs cost nothing).")
    assert cost.line(second).endswith("reused runs cost nothing); one run not counted.")
    assert cost.line(None) == ""


def _regime_runs(tmp_path, values: dict, **model) -> dict:
    """{(arm, rung): held-out per seed} -> the search's results, each run's config.json written."""
    results = {}
    for (arm, rung), ridge in values.items():
        for seed, v in enumerate(ridge):
            workdir = tmp_path / arm / rung / f"seed{seed}"
            spec = {"name": "lapo" if rung == "lapo" else "laom", "latent_dim": 171, "act_head_dim": 171,
                    "ema_tau": 0.0322, "augment": rung != "lapo", **model}
            run_dir.write_json(str(workdir / "config.json"), {"model": spec})
            results.setdefault(arm, {}).setdefault(rung, {})[str(seed)] = {
                "ridge_probe_mse": v, "online_probe_mse": v + 1, "ridge_chance_mse": 35.0, "workdir": str(workdir)}
    return results


def test_regime_search_report_compares_each_row_with_lapo(tmp_path):
    from experiments import regime_report
    arms = [regime_report.Arm("lapo", "LAPO", "small", ("lapo",), ()),
            regime_report.Arm("mini", "the miniature", "mini", ("augment", "supervision"), ("model.augment_scale=0.5",)),
            regime_report.Arm("mini_n128", "more data", "mini", ("augment",), ("model.augment_scale=0.5",),
                              ("num_train=128",))]
    values = {("lapo", "lapo"): [22.0, 24.0, 26.0], ("mini", "augment"): [10.0, 11.0, 12.0],
              ("mini", "supervision"): [20.0, 25.0, 30.0], ("mini_n128", "augment"): [5.0, 5.5, 6.0]}
    results = _regime_runs(tmp_path, values, augment_scale=0.5)
    text = open(regime_report.write_report(str(tmp_path), results, arms, ("lapo", "lapo"), "data/x",
                                           "python -m experiments.regime_search --seeds=0,1,2")).read()
    rows = {line.split(" | ")[0][2:]: line for line in text.splitlines() if line.startswith("| ") and " | 3 | " in line}
    assert "(baseline)" in rows["lapo: LAPO (k=1, latent 128)"]
    better = rows["mini: + augmentations (LAOM)"]
    assert "171 / 171 / 0.0322 / x0.5" in better and better.endswith("| better, separated |")
    assert f"| {report.fmt_ratio(report.ratio_interval([10.0, 11.0, 12.0], [22.0, 24.0, 26.0]))} |" in better
    assert rows["mini: + supervision (LAOM+sup)"].endswith("| within noise |")
    assert "`model.augment_scale=0.5`" in text and "python -m experiments.regime_search --seeds=0,1,2" in text
    assert "Verdict (held-out ridge probe, 3 seeds): better than the baseline LAPO with separated intervals: " \
           "mini: + augmentations (LAOM); mini_n128: + augmentations (LAOM)." in text
    ratio = report.fmt_ratio(report.ratio_interval([5.0, 5.5, 6.0], [10.0, 11.0, 12.0]))
    assert f"| mini: + augmentations (LAOM) | 11.00 ± 2.48 | 5.50 ± 1.24 | {ratio} |" in text
    assert "`--collect.num_train=128`" in text
    assert (tmp_path / "regime_search.png").stat().st_size > 1000


def test_regime_search_report_keeps_the_rows_without_distractors_apart(tmp_path):
    from experiments import regime_report
    clean = ("env.preset=vanilla",)
    arms = [regime_report.Arm("lapo", "LAPO", "small", ("lapo",), ()),
            regime_report.Arm("mini", "the miniature", "mini", ("augment",), ()),
            regime_report.Arm("lapo_clean", "LAPO, clean", "small", ("lapo",), (), clean),
            regime_report.Arm("mini_clean", "the miniature, clean", "mini", ("augment",), (), clean)]
    values = {("lapo", "lapo"): [22.0, 24.0, 26.0], ("mini", "augment"): [28.0, 30.0, 32.0],
              ("lapo_clean", "lapo"): [2.0, 2.2, 2.4], ("mini_clean", "augment"): [8.0, 9.0, 10.0]}
    results = _regime_runs(tmp_path, values)
    text = open(regime_report.write_report(str(tmp_path), results, arms, ("lapo", "lapo"), "data/x",
                                           "python -m experiments.regime_search")).read()
    main_table = text.split("## Without distractors")[0]
    assert "lapo_clean" not in main_table.split("Arms:")[0]  # clean rows never count as a regime with distractors
    assert "no row is better than the baseline LAPO with separated intervals." in text
    assert "More data" not in text  # a clean arm is not "more data"
    px64 = regime_report.Arm("lapo_64px", "LAPO at 64 px", "small", ("lapo",), (), ("env.image_size=64",))
    assert regime_report._data_size_section(arms[:1] + [px64], [], {}, results) == []  # nor another resolution
    ratio = report.fmt_ratio(report.ratio_interval([28.0, 30.0, 32.0], [8.0, 9.0, 10.0]))
    assert f"| mini_clean: + augmentations (LAOM) | 3 | 9.00 ± 2.48 | 10.00 ± 2.48 | 30.00 ± 4.97 | {ratio} |" in text
    laom_vs_lapo = report.fmt_ratio(report.ratio_interval([8.0, 9.0, 10.0], [2.0, 2.2, 2.4]))
    assert (f"- mini_clean: + augmentations (LAOM) / lapo_clean: LAPO (k=1, latent 128) = {laom_vs_lapo}: "
            "worse, separated.") in text
    # a search of some arms only, the baseline not among them, still writes its report and trend
    for arm, rung in (("mini", "augment"), ("mini_clean", "augment")):
        for seed in results[arm][rung].values():
            seed.update(num_steps=3000, ridge_probe_mse_at={"2000": seed["ridge_probe_mse"] + 1})
    trend = ([("clean vs not", ("mini_clean", "augment"), ("mini", "augment"), 32, 32)], 2000)
    some = {k: v for k, v in results.items() if k != "lapo"}
    text = open(regime_report.write_report(str(tmp_path), some, arms[1:], ("lapo", "lapo"), "data/x", "cmd",
                                           trend)).read()
    assert "| mini: + augmentations (LAOM) |" in text and "clean vs not" in text


def test_regime_trend_projects_where_the_gap_closes(tmp_path):
    """A planted LAOM that closes on a flat LAPO with updates, and no change with data."""
    from experiments import regime_trend
    planted = {("lapo", "lapo"): ([19.0, 20.0, 21.0], [19.0, 20.0, 21.0]),
               ("mini", "augment"): ([39.0, 40.0, 41.0], [29.0, 30.0, 31.0]),
               ("lapo_n128", "lapo"): ([18.0, 20.0, 22.0], [18.0, 20.0, 22.0]),
               ("mini_n128", "augment"): ([38.0, 40.0, 42.0], [28.0, 30.0, 32.0])}
    results = {}
    for (arm, rung), (early, last) in planted.items():
        for seed, (e, v) in enumerate(zip(early, last)):
            results.setdefault(arm, {}).setdefault(rung, {})[str(seed)] = {
                "ridge_probe_mse": v, "ridge_probe_mse_at": {"2000": e}, "workdir": str(tmp_path)}
    points = [("32 trajectories", ("lapo", "lapo"), ("mini", "augment"), 32, 32),
              ("128 trajectories", ("lapo_n128", "lapo"), ("mini_n128", "augment"), 128, 32)]
    text = "\n".join(regime_trend.section(str(tmp_path), results, points, 2000, 3000))
    assert "| 32 trajectories | 2000 | 20.00 ± 2.48 | 40.00 ± 2.48 |" in text
    updates = next(x for x in text.splitlines() if x.startswith("| updates"))
    per_doubling = float(updates.split(" | ")[1].split()[0].rstrip("x"))
    assert abs(per_doubling - 0.75 ** (1 / np.log2(1.5))) < 0.01  # x0.75 over 2000 -> 3000
    at = float(updates.split("overtake at about ")[1].split()[0].replace(",", ""))
    assert abs(at - 3000 * 2 ** (np.log(1.5) / -np.log(per_doubling))) / at < 0.02
    trajectories = next(x for x in text.splitlines() if x.startswith("| trajectories"))
    assert "the interval includes no shrinking" in trajectories or "does not shrink" in trajectories
    assert (tmp_path / "regime_trend.png").stat().st_size > 1000
