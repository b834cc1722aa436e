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
