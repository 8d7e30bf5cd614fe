#!/usr/bin/env bash
# The test command: install what is needed (scripts/setup_env.sh), run the unit
# tests (in parallel, one pytest-xdist worker per core, each test file on one worker so
# that its module fixtures run once), then run every benchmark once as a plain test
# (--benchmark-disable, quick profile) so that a broken benchmark fails here too.
# Extra arguments go to pytest (-n 0: the unit tests in this one process).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
# shellcheck disable=SC1091
. .venv/bin/activate
export MPLBACKEND=Agg
# Byte-compiled once: where PYTHONDONTWRITEBYTECODE is set (many CI images set it) each of the
# hundreds of processes the tests start would compile the package from source again. A file that
# does not compile is printed here and fails in pytest below.
python -m compileall -q lowrank benchmarks tests scripts || true
echo "[test] unit tests"
python -m pytest tests/ -n auto --dist loadfile "$@"
echo "[test] benchmarks as plain tests (quick profile, timing disabled)"
LOWRANK_BENCH_PROFILE=quick python -m pytest benchmarks/ --benchmark-disable -q "$@"
