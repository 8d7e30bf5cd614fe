"""Adding a suite is two files: a demonstration suite dropped into a copy of the tree is run, loaded,
documented and gated with nothing else touched."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lowrank.runner import launch

REPO = Path(__file__).resolve().parents[2]
DEMO = Path(__file__).resolve().parents[1] / "demo_suite"

pytestmark = pytest.mark.timed

# What the gate would judge of the new suite: its cases and their same-run pairings (judging the
# run itself would be a verdict on a run measured during the test; the gate's verdicts on every
# suite's pairings are tested on recorded runs in tests/judge/test_gate.py).
CHECK = """
import json, sys
from lowrank.judge import gate
from lowrank.store import load
from lowrank.present import schema_doc
from lowrank.record.suites import SUITES
run = sys.argv[1]
frame = load.load([run]).frame
doc = json.load(open(run))
suite = SUITES["transpose"]
print(json.dumps({
    "suites": list(SUITES),
    "rows": int((frame["suite"] == "transpose").sum()),
    "gated": sorted(gate.suite_cases(doc)),
    "ratios": sorted({pairing.metric for pairing, _ in suite.partners(suite.cases(doc)).values()}),
    "documented": "## Suite `transpose`" in schema_doc.markdown(),
}))
"""


def test_a_new_suite_is_one_benchmark_file_and_one_definition_module(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(REPO / "lowrank", tree / "lowrank", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "benchmarks", tree / "benchmarks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tree / "pyproject.toml")
    # The two files, and nothing else:
    shutil.copy(DEMO / "transpose.py", tree / "lowrank" / "record" / "suites" / "transpose.py")
    shutil.copy(DEMO / "bench_transpose.py", tree / "benchmarks" / "bench_transpose.py")
    settings = {"LOWRANK_BENCH_PROFILE": "quick", "LOWRANK_BENCH_THREADS": "1", "LOWRANK_BENCH_BACKENDS": "numpy",
                "LOWRANK_BENCH_PROCESSES": "1", "LOWRANK_BENCH_OUTPUT": str(tmp_path / "runs")}
    proc = launch.launch(["benchmarks/bench_transpose.py"], settings, cwd=tree, extra_env={"PYTHONPATH": str(tree)},
                         timeout=600)
    assert proc.returncode == 0, launch.output_tail(proc)
    # The closing line counts the cases the workers timed, as pytest counts tests it runs itself.
    closing = proc.stdout.strip().splitlines()[-1]
    assert re.search(r"\b2 passed\b", closing) and "no tests ran" not in closing, closing
    env = launch.suite_env(settings, {**os.environ, "PYTHONPATH": str(tree)})
    (run,) = (tmp_path / "runs").glob("*.json")
    check = subprocess.run([sys.executable, "-c", CHECK, str(run)], cwd=tree, env=env, capture_output=True, text=True,
                           timeout=300)
    assert check.returncode == 0, check.stderr[-3000:]
    seen = json.loads(check.stdout)
    assert "transpose" in seen["suites"] and seen["rows"] == 2
    assert seen["ratios"] == ["vs_dense"] and seen["documented"] and len(seen["gated"]) == 2
