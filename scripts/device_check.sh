#!/usr/bin/env bash
# The accelerator check (benchmarks/device_check.py): the paper configs measured on a GPU in one
# prepared run, within 9 minutes. On the lent device machine, from the repository root:
#   bash scripts/device_check.sh            # writes $OUT/device.json and $OUT/device_check.log
#   bash scripts/device_check.sh --smoke    # the same at smoke sizes on any machine (a CPU dry run)
# The one package the machine's image lacks, ml-collections (pure Python, Apache-2.0; its needs
# absl-py and PyYAML are there), travels with the tree in scripts/wheels/; --fetch_wheels puts
# another version in .whl/ (carry it). Other arguments go to device_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--fetch_wheels" ]; then
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl "ml-collections==1.1.0"
  ls -l .whl
  exit 0
fi
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
if ! "$PYTHON" -c "import ml_collections" 2>/dev/null; then
  wheels=$(ls .whl/*.whl 2>/dev/null || ls scripts/wheels/*.whl)
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $wheels
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
OUT=${OUT:-device_out}
mkdir -p "$OUT"
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.95}  # room for the 61.5 GB regime
export LAM_JAX_COMMIT=${LAM_JAX_COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>/dev/null || echo "no nvidia-smi"
  "$PYTHON" -c "import jax; print('jax', jax.__version__, jax.devices())"
  PYTHONUNBUFFERED=1 "$PYTHON" benchmarks/device_check.py --out "$OUT" "$@"
} 2>&1 | tee "$OUT/device_check.log"
