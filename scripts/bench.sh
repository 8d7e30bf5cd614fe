#!/usr/bin/env bash
# The main job: install what is needed, run the benchmark suite (profile from
# LOWRANK_BENCH_PROFILE, default "default"), then write the report of that run.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
# shellcheck disable=SC1091
. .venv/bin/activate
export MPLBACKEND=Agg
profile=${LOWRANK_BENCH_PROFILE:-default}
echo "[bench] running the '$profile' profile: pytest benchmarks/ --benchmark-only"
LOWRANK_BENCH_PROFILE=$profile python -m pytest benchmarks/ --benchmark-only -q "$@"
echo "[bench] writing the report of the newest run in results/runs/ to results/report/ (git-ignored)"
lowrank-bench report
