#!/usr/bin/env bash
# Installs everything, then runs the main job on its small default (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure_env.sh
exec .venv/bin/python -m experiments.main "$@"
