import json
import os
import subprocess
import sys

import pytest

from experiments import parallel
from configs import methods


def test_jobs_run_side_by_side_single_threaded_and_failures_are_reported(tmp_path):
    script = ("import os, sys; open(sys.argv[1], 'w').write(os.environ['XLA_FLAGS'] + ' ' + "
              "str(sorted(os.sched_getaffinity(0))))")
    outs = [tmp_path / f"out{i}" for i in range(3)]
    parallel.run_commands([["-c", script, str(o)] for o in outs], workers=min(2, len(os.sched_getaffinity(0))),
                          log_dir=str(tmp_path / "logs"))
    for o in outs:
        text = o.read_text()
        assert "intra_op_parallelism_threads=1" in text and text.count(",") == 0  # pinned to one core
    with pytest.raises(RuntimeError, match=r"job 2 \(log: .*job001.log\)"):
        parallel.run_commands([["-c", "pass"], ["-c", "raise SystemExit(3)"]], 1, str(tmp_path / "logs2"))


def test_execute_starts_only_unfinished_runs_and_returns_every_result(tmp_path):
    def job(name: str, finished: bool) -> parallel.Job:
        out = tmp_path / name
        if finished:
            out.write_text('{"made": "before"}')
        script = (f"import json, os; json.dump({{'made': 'now', 'xla': os.environ.get('XLA_FLAGS', '')}}, "
                  f"open({str(out)!r}, 'w'))")
        return parallel.Job(["-c", script], lambda: json.loads(out.read_text()) if out.exists() else None)

    results = parallel.execute([job("a", True), job("b", False)], 1, str(tmp_path / "logs"))
    assert results[0] == {"made": "before"} and results[1]["made"] == "now"
    assert "intra_op_parallelism_threads=1" not in results[1]["xla"]  # one worker: every core for the run
    assert os.listdir(tmp_path / "logs") == ["job000.log"]  # the finished run was not started again
    with pytest.raises(RuntimeError, match="without a result"):
        parallel.execute([parallel.Job(["-c", "pass"], lambda: None)], 1, str(tmp_path / "logs2"))


def test_overrides_reach_a_run_as_the_experiment_was_given_them():
    """One syntax from an experiment's command line (--lam.KEY=VALUE) to its runs' command lines
    (--config.KEY=VALUE): values of every type come back to the same config."""
    items = ("model.latent_dim=64", "model.augment=false", "learning_rate=3e-4", "model.encoder_channels=(4, 8, 8)",
             "data.labeled_paths=a.hdf5,b.hdf5", "seed=5")
    script = ("import json, sys; from absl import flags; from experiments import parallel; "
              "parallel.lam_overrides_flag(), parallel.downstream_overrides_flag(); flags.FLAGS(sys.argv); "
              "print(json.dumps([parallel.overrides_of('lam'), parallel.overrides_of('downstream')]))")
    argv = [f"--lam.{x}" for x in items] + ["--downstream.bc.num_steps=7"]
    out = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, check=True)
    lam_items, down_items = json.loads(out.stdout)
    assert down_items == ["bc.num_steps=7"]
    job = parallel.pretrain_job("laom", "smoke", lam_items, "runs/x", "data/x")
    assert job.args[3:3 + len(items)] == [f"--config.{x}" for x in lam_items]
    got, want = (methods.lam_config("laom", "smoke", overrides=o) for o in (lam_items, items))
    assert got.to_dict() == want.to_dict()
    assert (got.model.latent_dim, got.model.augment, got.learning_rate, got.model.encoder_channels,
            got.data.labeled_paths, got.seed) == (64, False, 3e-4, (4, 8, 8), "a.hdf5,b.hdf5", 5)
    bad = subprocess.run([sys.executable, "-c", script, "--lam.model.latent_dimm=5"], capture_output=True, text=True)
    assert bad.returncode != 0 and "--lam.KEY=VALUE: unknown config key 'model.latent_dimm'" in bad.stderr
    with pytest.raises(KeyError, match=r"did you mean model.latent_dim\?"):  # a key written as before
        methods.lam_config("laom", "smoke", overrides=["latent_dim=64"])
    with pytest.raises(ValueError, match="expected a tuple of int"):
        methods.lam_config("laom", "smoke", overrides=["model.encoder_channels=4:8:8"])
