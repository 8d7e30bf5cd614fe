"""An override's ``ignore = true`` leaves the matching cases' timings unjudged, never their exact metrics.

``ignore = true`` with ``pattern = "*"`` used to pass a run whose errors and bytes had changed: the gate
skipped the case entirely.
"""

import copy
import json
import re
from pathlib import Path

import pytest

from lowrank import cli
from lowrank.judge import gate, inject
from lowrank.present import gate_report
from tests import recorded

REPO = Path(__file__).resolve().parents[2]
SLOWED = "numpy-float32-d1024-k1024-r0064-n032-warm"


def _config(tmp_path, pattern):
    path = tmp_path / "pyproject.toml"
    path.write_text(f'[[tool.lowrank-bench.gate.override]]\npattern = "{pattern}"\nignore = true\n')
    return path


def _changed(run: dict, field: str, delta: float) -> tuple[dict, str]:
    """A copy of ``run`` with one factored case's exact metric ``field`` moved by ``delta``; the case's id."""
    out = copy.deepcopy(run)
    bench = next(b for b in out["benchmarks"] if b["extra_info"]["variant"] == "factored")
    bench["extra_info"][field] += delta
    return out, bench["param"]


@pytest.mark.parametrize("field, delta", [("rel_error_fro", 1e-3), ("param_bytes", 4), ("flops", 2)])
def test_ignore_everything_still_fails_a_changed_exact_metric(aa_runs, tmp_path, field, delta):
    base, cur = aa_runs
    changed, case = _changed(cur, field, delta)
    result = gate.compare_runs(changed, base, gate.load_config(_config(tmp_path, "*")))
    assert [(f.case, f.metric, f.kind) for f in result.regressions] == [(case, f"exact:{field}", "correctness")]
    assert result.exit_code == 1


def test_ignore_leaves_timings_unjudged_and_says_so(aa_runs, tmp_path):
    base, cur = aa_runs
    slow = inject.slowed(cur, 1.5, [SLOWED])
    assert any(f.case == SLOWED for f in gate.compare_runs(slow, base).regressions)  # judged without the override
    result = gate.compare_runs(slow, base, gate.load_config(_config(tmp_path, "*")))
    assert result.regressions == [] and result.exit_code == 0
    assert result.findings == []  # no timing judged; exact metrics judged, and unchanged (a change is a finding)
    assert len(result.timing_ignored) == result.common
    text = gate_report.to_text(result)
    assert f"timings of {result.common} case(s) not judged (an override with ignore = true" in text


def test_ignore_by_pattern_spares_the_other_cases(aa_runs, tmp_path):
    base, cur = aa_runs
    other = "numpy-float32-d1024-k0256-r0064-n032-warm"
    slow = inject.slowed(cur, 1.5, [SLOWED, other])
    result = gate.compare_runs(slow, base, gate.load_config(_config(tmp_path, "*-d1024-k1024-*")))
    flagged = {f.case for f in result.regressions}
    assert other in flagged and SLOWED not in flagged
    assert all(re.match(r".*-d1024-k1024-", c) for c in result.timing_ignored) and SLOWED in result.timing_ignored


def test_ignore_on_counted_runs_leaves_counts_unjudged_not_exact_metrics(tmp_path):
    base, cur = recorded.run("counts-aa", 1), recorded.run("counts-aa", 2)
    cur = copy.deepcopy(cur)
    (bench,) = [b for b in cur["benchmarks"] if b["param"] == "apply-numpy"]
    bench["extra_info"]["instructions"] *= 1.5
    cfg = gate.load_config(_config(tmp_path, "apply-*"))
    result = gate.compare_runs(cur, base, cfg)
    assert not any(f.case == "apply-numpy" and f.metric == "instructions" for f in result.findings)
    assert result.exit_code == 0 and "apply-numpy" in result.timing_ignored


def test_cli_gate_with_ignore_everything_fails_on_a_changed_error(aa_runs, tmp_path, capsys):
    base, cur = aa_runs
    changed, case = _changed(cur, "rel_error_fro", 1e-3)
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "run.json").write_text(json.dumps(changed))
    code = cli.main(["gate", str(tmp_path / "run.json"), "--baseline", str(tmp_path / "base.json"),
                     "--config", str(_config(tmp_path, "*"))])
    out = capsys.readouterr().out
    assert code == 1 and "\nFAIL: 1 regression(s) (1 correctness)" in out and case in out and "not judged" in out


def test_every_override_key_is_documented():
    page = (REPO / "docs" / "regression-tracking.md").read_text()
    section = page[page.index("**Overrides.**"):]
    for key in sorted(gate.OVERRIDE_KEYS):
        assert f"`{key}`" in section, key
