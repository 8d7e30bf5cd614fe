#!/usr/bin/env bash
# The test command: install what is needed (scripts/setup_env.sh), run the unit
# tests, then run every benchmark once as a plain test (--benchmark-disable, quick
# profile) so that a broken benchmark fails here too. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
# shellcheck disable=SC1091
. .venv/bin/activate
export MPLBACKEND=Agg
echo "[test] unit tests"
python -m pytest tests/ "$@"
echo "[test] benchmarks as plain tests (quick profile, timing disabled)"
LOWRANK_BENCH_PROFILE=quick python -m pytest benchmarks/ --benchmark-disable -q "$@"
