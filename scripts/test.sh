#!/usr/bin/env bash
# Installs what is missing, then runs the test suite on CPU (4 virtual devices).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure_env.sh
exec .venv/bin/python -m pytest -q tests "$@"
