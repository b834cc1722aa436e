import json
import os

import pytest

from experiments import parallel


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
