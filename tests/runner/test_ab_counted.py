"""``lowrank-bench ab --metric instructions``: its verdicts on recorded counts, its input errors, and one
real counted A/B of two commits."""

import copy
import json
import os
import shutil
import subprocess
import sys

import pytest

from lowrank.cli import main
from lowrank.judge import gate
from lowrank.present import ab_report
from lowrank.runner import ab
from tests import recorded
from tests.benchmarks.test_counting import assert_records_instructions_per_call
from tests.runner.test_ab import REPO, _scratch_repo, slower_apply_commit

CASE = "apply-torch-cpu"


def _sides():
    return {label: ab.Side(label, rev, sys.executable, commit)
            for label, rev, commit in (("base", "HEAD~1", "b" * 40), ("head", "HEAD", "h" * 40))}


def _head_with(factor: float, case: str = CASE, field: str = "instructions") -> dict:
    """The second recorded counted run (tests/recorded/counts-aa), one case's ``field`` scaled by ``factor``."""
    doc = copy.deepcopy(recorded.run("counts-aa", 2))
    (bench,) = [b for b in doc["benchmarks"] if b["param"] == case]
    bench["extra_info"][field] = bench["extra_info"][field] * factor
    return doc


def _judge(head: dict, accept=()):
    base = recorded.run("counts-aa", 1)
    result = gate.compare_runs(head, base, gate.load_config(REPO / "pyproject.toml"), allow_missing=True)
    return result, ab_report.counted_failing(result, ab_report.benchmark_names(head), ab.AbSettings(accept=accept))


def test_two_recorded_counted_runs_of_one_commit_fail_nothing():
    result, failing = _judge(recorded.run("counts-aa", 2))
    assert failing == [] and not result.regressions
    assert ab_report.counted_summary(result, failing, 60).startswith("PASS: 0 case(s) with more instructions")


def test_a_case_with_2_percent_more_instructions_fails_by_name_and_alone():
    result, failing = _judge(_head_with(1.02))
    assert [(f.case, f.metric) for f in failing] == [(CASE, "instructions")]
    text = ab_report.counted_to_text(_sides(), result, failing, 60)
    assert text.startswith("FAIL: 1 case(s) with more instructions") and CASE in text


def test_an_accepted_case_is_reported_but_does_not_fail():
    result, failing = _judge(_head_with(1.02), accept=("bench_apply_overhead[apply-torch*]",))
    assert failing == [] and [f.case for f in result.regressions] == [CASE]
    assert "(1 accepted by --accept)" in ab_report.counted_summary(result, failing, 60)


def test_accepting_a_count_never_accepts_a_changed_exact_metric():
    head = _head_with(1.02)
    factorize = next(b for b in head["benchmarks"] if b["extra_info"].get("suite") == "factorize")
    factorize["extra_info"]["rel_error_fro"] = factorize["extra_info"]["rel_error_fro"] * 3 + 0.1
    result, failing = _judge(head, accept=("*",))
    assert [f.kind for f in failing] == ["correctness"]


def test_counted_runs_are_one_thread_and_say_so(capsys):
    assert main(["ab", "HEAD", ".", "--metric", "instructions", "--threads", "2", "--repo", str(REPO)]) == 2
    err = capsys.readouterr().err
    assert "--threads 2 with --metric instructions: accepted 1" in err and "Traceback" not in err


def test_an_unknown_metric_is_named_with_the_accepted_ones(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["ab", "HEAD", ".", "--metric", "cycles", "--repo", str(REPO)])
    assert exit_.value.code == 2
    assert "invalid choice: 'cycles' (choose from 'time', 'instructions')" in capsys.readouterr().err


def test_without_valgrind_a_counted_ab_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no valgrind there
    assert main(["ab", "HEAD", ".", "--metric", "instructions", "--repo", str(REPO)]) == 2
    err = capsys.readouterr().err
    assert "needs valgrind" in err and "apt-get install valgrind" in err and "Traceback" not in err


@pytest.mark.timed
@pytest.mark.skipif(shutil.which("valgrind") is None or shutil.which("cc") is None,
                    reason="a counted A/B needs valgrind and a C compiler")
def test_a_real_counted_ab_counts_both_commits_and_writes_its_files(tmp_path):
    # The machinery on a real run: worktrees of two commits, one counted run a side, the files, an exit
    # code that says what ab.json says. Whether the doubled apply is flagged is judged on recorded
    # counts above; scripts/measure_counts.py measures detection on this machine.
    tree, git = _scratch_repo(tmp_path)
    slower_apply_commit(tree, git)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOWRANK_BENCH_")}
    cmd = [sys.executable, "-m", "lowrank.cli", "ab", "HEAD~1", "HEAD", "--metric", "instructions", "-k",
           "apply-numpy or bare-numpy", "--backend", "numpy", "--output", str(tmp_path / "ab")]
    proc = subprocess.run(cmd, cwd=tree, env={**env, "PYTHONPATH": str(tree)}, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    (folder,) = (tmp_path / "ab").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["ab.json", "ab.md", "base.json", "head.json"]
    summary = json.loads((folder / "ab.json").read_text())
    assert summary["metric"] == "instructions" and summary["exit_code"] == proc.returncode
    assert summary["sides"]["head"]["commit"] != summary["sides"]["base"]["commit"]
    counted = {c["case"] for c in summary["cases"] if c["metric"] == "instructions"}
    assert counted == {"apply-numpy", "bare-numpy"}
    for side in ("base", "head"):  # each side one counted run of the suite, as a user's counted run writes it
        assert_records_instructions_per_call(json.loads((folder / f"{side}.json").read_text()))
