#!/usr/bin/env bash
# CI A/B: time HEAD against its parent (or $LOWRANK_AB_BASE) on the quick profile, in alternating
# processes on this machine (lowrank-bench ab). Exit 1 when a case is slower beyond the threshold,
# except cases that HEAD's commit message accepts with an "Accept-Slower: <glob>" trailer (one per
# line, e.g. "Accept-Slower: bench_matvec[*-dense-*]"). Prints the folder of its files on the last
# line. Skipped (exit 0) when there is no base commit (a first commit, a shallow clone).
# LOWRANK_AB_METRIC=instructions compares instruction counts instead (one counted run a side under
# valgrind's callgrind, both sides at once: lowrank-bench ab --metric instructions), with the same
# trailers honoured.
# Expects .venv (scripts/setup_env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. .venv/bin/activate
export MPLBACKEND=Agg
base=${LOWRANK_AB_BASE:-HEAD~1}
metric=${LOWRANK_AB_METRIC:-time}
out=${LOWRANK_AB_OUTPUT:-results/ci/ab}
if ! git rev-parse --verify --quiet "$base^{commit}" >/dev/null; then
    echo "[ab] no base commit $base (first commit or shallow clone): A/B skipped"
    exit 0
fi
accept=()
while IFS= read -r glob; do
    [ -n "$glob" ] && accept+=(--accept "$glob")
done < <(git log -1 --format='%(trailers:key=Accept-Slower,valueonly)' HEAD)
mkdir -p "$out"
before=$(ls "$out" 2>/dev/null | sort)
rc=0
lowrank-bench ab "$base" HEAD --metric "$metric" --output "$out" "${accept[@]}" || rc=$?
folder=$(comm -13 <(echo "$before") <(ls "$out" | sort) | tail -n 1)
[ -n "$folder" ] && echo "$out/$folder"
exit "$rc"
