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
stamp=.venv/.installed-$(cat setup.cfg pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "installing lam-jax and its dependencies into .venv (log: .venv/install.log)"
  if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e '.[test]'; } \
      >.venv/install.log 2>&1; then
    tail -n 40 .venv/install.log
    exit 1
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi
