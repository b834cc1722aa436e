#!/usr/bin/env bash
# Installs what lam-jax needs, idempotently: Debian GL libraries for headless MuJoCo and a
# virtual environment in .venv with the package (editable) and its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1 && ! ldconfig -p | grep -q libEGL_mesa; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 libosmesa6
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# The versions resolved when the lock was made (constraints/py3XX.txt, one per Python minor version),
# so that a fresh machine builds the same environment; without a lock for this Python, pip resolves
# setup.cfg's ranges afresh.
lock=constraints/py$(.venv/bin/python -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")').txt
pin=()
if [ -f "$lock" ]; then pin=(-c "$lock"); else echo "no $lock: resolving the newest versions setup.cfg allows"; fi
stamp=.venv/.installed-$(cat setup.cfg pyproject.toml "${pin[@]:1}" | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "installing lam-jax and its dependencies into .venv (log: .venv/install.log)"
  if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q "${pin[@]}" -e '.[test]'; } \
      >.venv/install.log 2>&1; then
    tail -n 40 .venv/install.log
    exit 1
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi
