#!/usr/bin/env bash
# Create .venv (once) and install lowrank-bench into it. Safe to run again: an
# existing venv is reused and pip only installs what is missing.
#
# torch is installed before the package so that pip never resolves "torch" to a
# multi-GB CUDA build on a CPU-only machine. Override with LOWRANK_TORCH_SPEC,
# e.g. LOWRANK_TORCH_SPEC="torch==2.5.1" or extra pip options through PIP_* variables.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
# pip's output goes to a log that is shown only when the install fails.
pip_quiet() {
    if ! python -m pip install "$@" >.venv/pip-install.log 2>&1; then
        cat .venv/pip-install.log >&2
        echo "[setup] pip install $* failed (log above)" >&2
        exit 1
    fi
}
# shellcheck disable=SC1091
. .venv/bin/activate

if ! python -c "import torch" >/dev/null 2>&1; then
    spec=${LOWRANK_TORCH_SPEC:-torch==2.13.0}
    echo "[setup] installing $spec (CPU build where one is available)"
    pip_quiet "$spec"
fi
echo "[setup] installing lowrank-bench and its dependencies"
pip_quiet -e ".[peers]"
python - <<'PY'
import numpy, torch, pandas, matplotlib, pytest_benchmark, lowrank
print(f"[setup] ready: numpy {numpy.__version__}, torch {torch.__version__}, pandas {pandas.__version__}, "
      f"matplotlib {matplotlib.__version__}, pytest-benchmark {pytest_benchmark.__version__}")
PY
