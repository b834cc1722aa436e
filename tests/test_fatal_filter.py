"""lam_jax.devices.fatal_filter: ordinary output passes unchanged, a fatal jaxlib report becomes one line."""
import os
import threading
import time

from lam_jax.devices import fatal_filter

GLOG_ERROR = b"E1130 05:06:43.904384   22215 coordination_service.cc:1549] Use error polling: UNAVAILABLE\n1\n"
GLOG_FATAL = (b"F1130 05:06:43.904954   22226 client.h:80] Terminating process because the JAX distributed service "
              b"detected fatal errors.\n*** Check failure stack trace: ***\n    @     0x7fdf9ac40634  absl::Flush()\n")


def _filter(writes, tmp_path, pause=0.0):
    """Runs the filter over pipes; ``writes`` arrive one by one, ``pause`` s apart; returns what it printed."""
    src_r, src_w = os.pipe()
    out_r, out_w = os.pipe()
    report = str(tmp_path / "report.log")
    thread = threading.Thread(target=fatal_filter.run, args=(report, src_r, out_w))
    thread.start()
    for data in writes:
        os.write(src_w, data)
        time.sleep(pause)
    os.close(src_w)
    thread.join(timeout=30)
    os.close(out_w)
    with os.fdopen(out_r, "rb") as f:
        printed = f.read()
    os.close(src_r)
    return printed, report


def test_ordinary_output_and_glog_warnings_pass_unchanged(tmp_path):
    writes = [b"step 10\r", b"step 20\n", GLOG_ERROR, b"Traceback (most recent call last):\n  boom\n"]
    printed, report = _filter(writes, tmp_path, pause=fatal_filter.HOLD_S + 0.5)
    assert printed == b"".join(writes)
    assert not os.path.exists(report)


def test_a_fatal_report_at_the_end_becomes_one_line_and_a_file(tmp_path):
    printed, report = _filter([b"step 10\n", GLOG_ERROR, GLOG_FATAL], tmp_path)
    lines = printed.decode().splitlines()
    assert lines[0] == "step 10" and len(lines) == 2
    assert lines[1].startswith("lam-jax: another process of this multi-host run died") and report in lines[1]
    assert open(report, "rb").read() == GLOG_ERROR + GLOG_FATAL


def test_other_fatal_reports_name_their_message(tmp_path):
    fatal = b"F1130 05:06:43.904954   22226 pjrt.cc:12] Check failed: gloo timed out\n"
    printed, report = _filter([fatal], tmp_path)
    assert printed.decode().strip() == f"lam-jax: jaxlib stopped this process: Check failed: gloo timed out " \
                                       f"(full report: {report})"


def test_our_own_error_line_is_kept_instead_of_the_summary(tmp_path):
    ours = b"error: train lapo: a step's collective failed after step 4 (Gloo): another process ...\n"
    printed, report = _filter([GLOG_ERROR, ours, GLOG_FATAL], tmp_path)
    assert printed == ours
    assert open(report, "rb").read() == GLOG_ERROR + ours + GLOG_FATAL
