"""The environment scripts/ensure_env.sh builds is the one locked in constraints/py3XX.txt."""
import configparser
import os
import re
import sys
from importlib import metadata

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCK = os.path.join(REPO, "constraints", f"py{sys.version_info[0]}{sys.version_info[1]}.txt")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict:
    with open(LOCK) as f:
        pins = [line.strip().split("==") for line in f if line.strip() and not line.startswith("#")]
    return {_norm(name): version for name, version in pins}


@pytest.mark.skipif(not os.path.exists(LOCK), reason="no lock for this Python: ensure_env.sh resolves afresh")
def test_installed_versions_are_the_locked_ones():
    lock = _lock()
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(REPO, "setup.cfg"))
    required = [re.split(r"[<>=!~ \[;]", r.strip())[0] for r in cfg["options"]["install_requires"].split("\n")
                if r.strip()]
    assert {_norm(r) for r in required} <= set(lock), "every dependency in setup.cfg is locked"
    installed = {_norm(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = {name: (installed[name], version) for name, version in lock.items()
             if name in installed and installed[name] != version}
    assert not wrong, f"installed vs locked: {wrong}; run bash scripts/ensure_env.sh"
    missing = [_norm(r) for r in required if _norm(r) not in installed]
    assert not missing
