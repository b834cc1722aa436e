"""One line instead of jaxlib's fatal report when a multi-host run loses a process.

When another process of a multi-host run dies (or the coordinator goes away), jaxlib ends this one
from a C++ thread: a dozen lines of coordination-service errors, a glog check failure and a native
stack trace, which Python cannot catch (its heartbeat callback cannot be given a Python function in
the jaxlib we pin). ``start`` routes this process's stderr through a small child process that
forwards everything as it comes, except glog-style lines, which it holds for a moment: when the
process ends on a fatal report, the child writes the report to a file and prints one line in its
place; otherwise it forwards the held lines unchanged.
"""
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

GLOG_LINE = re.compile(rb"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [\w.]+:\d+\] ", re.M)
FATAL = re.compile(rb"^F\d{4} |\*\*\* Check failure stack trace", re.M)
PEER_LOST = b"detected fatal errors"  # jaxlib's client: the coordination service reported a dead task
OUR_PREFIXES = (b"error: ", b"interrupted: ")  # experiments.runtime's one-line errors
HOLD_S = 2.0  # a glog line not followed by the process's end within this long is forwarded as it was
_children: list = []  # the filter of this process (kept so that it is not reaped as garbage)


def start(process_index: int) -> None:
    """Routes fd 2 through the filter; call once, before jax.distributed starts its threads."""
    report = os.path.join(tempfile.gettempdir(), f"lam_jax_fatal_p{process_index}_{os.getpid()}.log")
    child = subprocess.Popen([sys.executable, "-m", "lam_jax.devices.fatal_filter", report], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, start_new_session=True)  # Ctrl-C reaches only us
    sys.stderr.flush()
    os.dup2(child.stdin.fileno(), 2)
    child.stdin.close()
    _children.append(child)


def summary(report: bytes, path: str) -> str:
    if PEER_LOST in report:
        return ("lam-jax: another process of this multi-host run died or stopped answering "
                "(config.distributed.heartbeat_timeout), so jaxlib stopped this one too; rerun the same "
                f"command on every process to resume from the newest checkpoint (jaxlib's report: {path})")
    first = next((line for line in report.splitlines() if line.startswith(b"F")), b"").decode(errors="replace")
    return f"lam-jax: jaxlib stopped this process: {first.split('] ', 1)[-1][:300]} (full report: {path})"


def run(report_path: str, fd_in: int = 0, fd_out: int = 2) -> None:
    held, held_since = b"", None
    while True:
        wait = None if held_since is None else max(0.0, held_since + HOLD_S - time.monotonic())
        if not select.select([fd_in], [], [], wait)[0]:  # the process lives on: an ordinary message
            os.write(fd_out, held)
            held, held_since = b"", None
            continue
        chunk = os.read(fd_in, 1 << 16)
        if not chunk:
            break
        if held_since is not None:
            held += chunk
            continue
        match = GLOG_LINE.search(chunk)
        if match is None:
            os.write(fd_out, chunk)
            continue
        os.write(fd_out, chunk[:match.start()])
        held, held_since = chunk[match.start():], time.monotonic()
    if held and FATAL.search(held):  # the process ended on a fatal report
        with open(report_path, "wb") as f:
            f.write(held)
        # our own one-line error, if it came first, says it already (experiments.runtime's prefixes)
        ours = [line for line in held.splitlines(keepends=True) if line.startswith(OUR_PREFIXES)]
        os.write(fd_out, b"".join(ours) or (summary(held, report_path) + "\n").encode())
    elif held:
        os.write(fd_out, held)


if __name__ == "__main__":
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # live until the process's stderr closes
        signal.signal(sig, signal.SIG_IGN)
    run(sys.argv[1])
