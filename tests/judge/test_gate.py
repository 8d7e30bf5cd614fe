"""The regression gate on real runs: A/A passes, injected slowdowns and changed metrics fail it."""

import copy
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from lowrank.errors import LowRankValueError
from lowrank.judge import gate, inject
from lowrank.present import gate_report
from lowrank.record.suites import SUITES
from tests import recorded

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def suite_runs():
    """Two recorded quick runs of the factorize, LoRA and overhead suites: a baseline and a run of the same code."""
    return recorded.run("suites-aa", 1), recorded.run("suites-aa", 2)


def shifted(run: dict, case: str, factor: float) -> dict:
    """A copy of ``run`` whose recorded samples and stats of ``case`` are scaled by ``factor``."""
    return inject.slowed(run, factor, [case])


PROJECT_CONFIG = gate.load_config(REPO / "pyproject.toml")


def test_a_a_runs_pass(aa_runs):
    # On recorded data: how often A/A runs pass on a real machine is measured by
    # scripts/measure_verdicts.py, not asserted here.
    base, cur = aa_runs
    # What CI does (scripts/ci_gate.sh): no absolute times against a baseline recorded minutes
    # earlier (they drift on a shared VM).
    cfg = replace(PROJECT_CONFIG, absolute="never")
    result = gate.compare_runs(cur, base, cfg)
    assert not result.absolute_compared, result.absolute_reason
    assert result.common == len(gate.suite_cases(base)) > 20
    assert result.regressions == [], gate_report.to_text(result)
    assert result.exit_code == 0


def test_a_slower_factored_path_fails_and_is_named(aa_runs):
    base, cur = aa_runs
    case = "numpy-float32-d1024-k1024-r0064-n032-warm"
    result = gate.compare_runs(shifted(cur, case, 1.5), base, PROJECT_CONFIG)
    flagged = {(f.case, f.metric) for f in result.regressions}
    assert flagged == {(case, "speedup"), (case, "time")}  # the A/A base flags nothing else
    assert result.exit_code == 1
    text = gate_report.to_text(result)
    assert text.startswith("FAIL") and case in text
    assert case in gate_report.to_markdown(result)


def test_a_faster_case_is_an_improvement_not_a_failure(aa_runs):
    base, cur = aa_runs
    case = "torch-cpu-float32-d1024-k1024-r0016-n032-warm"
    result = gate.compare_runs(shifted(cur, case, 1 / 1.5), base, PROJECT_CONFIG)
    assert (case, "speedup") in {(f.case, f.metric) for f in result.improvements}
    assert all(f.case != case for f in result.regressions)


@pytest.mark.parametrize("field, delta", [("rel_error_fro", 1e-3), ("param_bytes", 4), ("flops", 2)])
def test_changed_exact_metrics_are_correctness_regressions(aa_runs, field, delta):
    base, cur = aa_runs
    cur = copy.deepcopy(cur)
    bench = next(b for b in cur["benchmarks"] if b["extra_info"]["variant"] == "factored")
    bench["extra_info"][field] += delta
    result = gate.compare_runs(cur, base)
    found = [f for f in result.regressions if f.metric == f"exact:{field}"]
    assert len(found) == 1 and found[0].case == bench["param"] and found[0].kind == "correctness"


def test_other_machine_gates_exact_metrics_and_ratios_but_not_times(aa_runs):
    base, cur = aa_runs
    other = copy.deepcopy(base)
    other["machine_info"]["lowrank_bench"]["fingerprint"] = "another-box"
    case = "numpy-float32-d1024-k0256-r0064-n032-warm"
    result = gate.compare_runs(shifted(cur, case, 1.5), other, PROJECT_CONFIG)
    assert not result.absolute_compared
    assert "NOT compared" in result.absolute_reason and "NOT compared" in gate_report.to_text(result)
    assert not any(f.metric == "time" for f in result.findings)
    assert (case, "speedup") in {(f.case, f.metric) for f in result.regressions}


def test_no_cases_in_common_is_an_input_error(aa_runs):
    base, _ = aa_runs
    foreign = {"benchmarks": [], "machine_info": {}}
    with pytest.raises(LowRankValueError, match="no cases in common"):
        gate.compare_runs(foreign, base)


def test_overrides_widen_thresholds_by_pattern(aa_runs, tmp_path):
    base, cur = aa_runs
    case = "numpy-float32-d1024-k1024-r0064-n032-warm"
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[tool.lowrank-bench.gate]\nmin_effect = 0.1\n'
        '[[tool.lowrank-bench.gate.override]]\npattern = "*-d1024-k1024-r0064-*"\nmin_effect = 0.8\n'
    )
    cfg = gate.load_config(pyproject)
    assert cfg.for_case(case)[0].speedup_min_effect == 0.8 and cfg.for_case("x")[0].speedup_min_effect == 0.1
    result = gate.compare_runs(shifted(cur, case, 1.5), base, cfg)
    assert all(f.case != case for f in result.regressions)


def test_bad_configuration_is_named(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[tool.lowrank-bench.gate]\nthreshold = 3\n")
    with pytest.raises(LowRankValueError, match="unknown key.*threshold"):
        gate.load_config(pyproject)
    pyproject.write_text("[tool.lowrank-bench.gate]\nalpha = 2\n")
    with pytest.raises(LowRankValueError, match="alpha=2"):
        gate.load_config(pyproject)


def test_confirmation_drops_transient_regressions_and_keeps_real_ones(aa_runs):
    base, cur = aa_runs
    slow = "numpy-float32-d1024-k1024-r0064-n032-warm"
    blip = "torch-cpu-float32-d1024-k0256-r0016-n032-warm"
    first = gate.compare_runs(shifted(shifted(cur, slow, 1.5), blip, 1.5), base, PROJECT_CONFIG)
    assert {f.case for f in first.regressions} == {slow, blip}
    dense = {case.replace("-r0064-", "-dense-").replace("-r0016-", "-dense-") for case in (slow, blip)}
    assert gate.cases_to_rerun(first) == sorted(
        {slow, blip} | dense | {f.case for f in first.regressions if f.kind == "timing"}
    )
    rerun = gate.compare_runs(shifted(cur, slow, 1.5), base, PROJECT_CONFIG)  # the blip did not come back
    final = gate.confirm(first, rerun)
    assert slow in {f.case for f in final.regressions}
    assert blip not in {f.case for f in final.regressions}
    assert any("not confirmed" in f.note for f in final.findings if f.case == blip)


def test_cli_gate_exit_codes(aa_runs, tmp_path):
    from lowrank import cli

    base, cur = aa_runs
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "slow.json").write_text(json.dumps(shifted(cur, "numpy-float32-d1024-k1024-r0064-n032-warm", 1.5)))
    (tmp_path / "corrupt.json").write_text('{"benchmarks": [')
    assert cli.main(["baseline", str(tmp_path / "base.json"), "--name", "b", "--dir", str(tmp_path / "bl")]) == 0
    md = tmp_path / "gate.md"
    code = cli.main(["gate", str(tmp_path / "slow.json"), "--baseline", str(tmp_path / "bl" / "b.json"),
                     "--markdown", str(md), "--failed-ids", str(tmp_path / "ids.txt")])
    assert code == 1 and "numpy-float32-d1024-k1024-r0064-n032-warm" in md.read_text()
    assert "numpy-float32-d1024-k1024-dense-n032-warm" in (tmp_path / "ids.txt").read_text()
    assert cli.main(["gate", str(tmp_path / "corrupt.json"), "--baseline", str(tmp_path / "bl" / "b.json")]) == 2
    assert cli.main(["gate", str(tmp_path / "slow.json"), "--baseline", "missing-name"]) == 2
    assert cli.main(["export", str(tmp_path / "base.json"), "-o", str(tmp_path / "ex")]) == 0
    speedups = json.loads((tmp_path / "ex" / "speedups.json").read_text())
    assert speedups and {"name", "unit", "value"} <= set(speedups[0]) and speedups[0]["unit"] == "x"


def test_different_thread_counts_never_compare_absolute_times(aa_runs):
    base, cur = aa_runs
    other = copy.deepcopy(cur)
    other["machine_info"]["lowrank_bench"]["threads"]["requested"] = 2
    result = gate.compare_runs(other, base, PROJECT_CONFIG)
    assert not result.absolute_compared and "thread counts differ" in result.absolute_reason
    assert not any(f.metric == "time" for f in result.findings)


def test_cli_flags_win_over_pattern_overrides(aa_runs, tmp_path):
    from lowrank import cli

    base, cur = aa_runs
    case = "numpy-float32-d1024-k1024-r0064-n032-warm"
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "slow.json").write_text(json.dumps(shifted(cur, case, 1.5)))
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[[tool.lowrank-bench.gate.override]]\npattern = "*-d1024-*"\nmin_effect = 0.9\n')
    args = ["gate", str(tmp_path / "slow.json"), "--baseline", str(tmp_path / "base.json"), "--config", str(pyproject)]
    assert cli.main(args) == 0  # the override hides a 1.5x slowdown ...
    assert cli.main([*args, "--min-effect", "0.25"]) == 1  # ... the flag wins over it
    assert cli.main([*args[:-1], str(tmp_path / "missing.toml")]) == 2


def test_compare_and_gate_agree_on_every_time_they_both_judge(aa_runs, tmp_path):
    from lowrank.judge import speedups
    from lowrank.store import load

    base, cur = aa_runs
    # batch-32 cases at 1024 rows: the project's 25% minimum effect applies to them (no override). The
    # two whose A/A medians agree best take the injections, so that the injected 1.5x is what moves them
    # (a recorded third run can sit 20-35% off the first two on a drifting day).
    cases, pooled = SUITES["matvec"].cases(cur), SUITES["matvec"].cases(base)
    ids = sorted(i for i in cases if "-n032-" in i and "-d1024-" in i)
    steady = sorted(ids, key=lambda i: abs(math.log(cases[i]["stats"]["median"] / pooled[i]["stats"]["median"])))
    slow, fast = steady[0], steady[1]
    changed = shifted(shifted(cur, slow, 1.5), fast, 1 / 1.5)
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "head.json").write_text(json.dumps(changed))
    cfg = replace(PROJECT_CONFIG, absolute="always")
    gated = {f.case: f.status for f in gate.compare_runs(changed, base, cfg).findings if f.metric == "time"}
    frame = load.load([tmp_path / "base.json", tmp_path / "head.json"]).frame
    table = speedups.time_ratios(frame, "base", "head", config=cfg).table
    compared = {case: (speedups.STATUS_SAME if status == speedups.STATUS_NOISE else status)
                for case, status in zip(table["param_id"], table["status"]) if case in gated}
    assert len(compared) == len(gated) > 20
    assert compared == gated
    assert gated[slow] == "regression" and gated[fast] == "improvement"


def test_the_other_suites_pass_a_a_as_ci_judges_them(suite_runs):
    base, cur = suite_runs
    cfg = replace(PROJECT_CONFIG, absolute="never")
    result = gate.compare_runs(cur, base, cfg)
    judged = {(f.suite, f.metric) for f in result.findings if f.is_ratio}
    assert {("factorize", "vs_peer"), ("lora", "vs_merged"), ("overhead", "vs_bare")} <= judged
    assert result.regressions == [], gate_report.to_text(result)


@pytest.mark.parametrize("case, metric, partner", [
    ("numpy-float32-d0384-k0256-r0016-power-law-randomized-p010-q2", "vs_peer",
     "numpy-float32-d0384-k0256-r0016-power-law-sklearn_randomized_svd-p010-q2"),
    ("numpy-float32-d0384-k0256-r0016-exact-rank-randomized-p010-q0", "vs_peer",
     "numpy-float32-d0384-k0256-r0016-exact-rank-sklearn_randomized_svd-p010-q0"),
    ("forward-numpy-float32-d0512-k0512-r0016-n032-unmerged", "vs_merged",
     "forward-numpy-float32-d0512-k0512-rNONE-n032-merged"),
    ("forward-torch-cpu-float32-d0512-k0512-r0016-n032-unmerged", "vs_merged",
     "forward-torch-cpu-float32-d0512-k0512-rNONE-n032-merged"),
    ("apply-numpy", "vs_bare", "bare-numpy"),
])
def test_a_1_5x_slowdown_in_every_suite_is_flagged_with_its_partner(suite_runs, case, metric, partner):
    # Against the run itself: the verdict on a known 1.5x change, apart from run-to-run noise
    # (which the A/A test above measures).
    _, cur = suite_runs
    cfg = replace(PROJECT_CONFIG, absolute="never")
    result = gate.compare_runs(shifted(cur, case, 1.5), cur, cfg)
    found = [f for f in result.regressions if f.case == case]
    assert [(f.metric, f.partner) for f in found] == [(metric, partner)], gate_report.to_text(result)
    assert len(result.regressions) == 1
    assert result.exit_code == 1 and partner in gate.cases_to_rerun(result)


def test_changed_factorization_and_lora_errors_are_correctness_regressions(suite_runs):
    base, cur = suite_runs
    cur = copy.deepcopy(cur)
    changed = {}
    for bench in cur["benchmarks"]:
        info = bench["extra_info"]
        if info["suite"] == "factorize" and info["method"] == "randomized" and "factorize" not in changed:
            info["rel_error_fro"] *= 1.01
            changed["factorize"] = (bench["param"], "exact:rel_error_fro")
        if info["suite"] == "lora" and info["op"] == "forward" and "lora" not in changed:
            info["flops"] += 2
            changed["lora"] = (bench["param"], "exact:flops")
    result = gate.compare_runs(cur, base)
    found = {(f.case, f.metric) for f in result.regressions if f.kind == "correctness"}
    assert set(changed.values()) <= found


def test_missing_baseline_cases_fail_unless_allowed(aa_runs, tmp_path):
    from lowrank import cli

    # Against the run itself: only the missing cases can fail it, not run-to-run noise.
    _, base = aa_runs
    partial = copy.deepcopy(base)
    partial["benchmarks"] = partial["benchmarks"][: len(partial["benchmarks"]) // 3]
    result = gate.compare_runs(partial, base)
    assert result.only_baseline and result.regressions == [] and result.exit_code == 1
    text = gate_report.to_text(result)
    assert text.startswith("FAIL") and "missing from the run" in text and "--allow-missing" in text
    allowed = gate.compare_runs(partial, base, allow_missing=True)
    assert allowed.exit_code == 0 and "accepted" in gate_report.to_text(allowed)
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "partial.json").write_text(json.dumps(partial))
    args = ["gate", str(tmp_path / "partial.json"), "--baseline", str(tmp_path / "base.json"), "--absolute", "never"]
    assert cli.main(args) == 1
    assert cli.main([*args, "--allow-missing"]) == 0


def test_an_injection_changes_exactly_the_named_cases(aa_runs):
    _, cur = aa_runs
    case = "numpy-float32-d1024-k1024-r0064-n032-warm"
    out = inject.slowed(cur, 2.0, [case])
    for before, after in zip(cur["benchmarks"], out["benchmarks"]):
        factor = 2.0 if before["param"] == case else 1.0
        assert after["stats"]["median"] == before["stats"]["median"] * factor
        assert after["stats"]["data"] == [t * factor for t in before["stats"]["data"]]
    with pytest.raises(KeyError, match="no-such-case"):
        inject.slowed(cur, 2.0, ["no-such-case"])  # a no-op injection would pass tests for the wrong reason


def test_ratios_never_gates_exact_metrics_and_says_no_timing_was_compared(aa_runs, tmp_path):
    # What CI does: timings are judged by its A/B, so the gate against the stored baseline
    # checks exact metrics only, and its verdict line says so.
    from lowrank import cli

    base, cur = aa_runs
    case = "numpy-float32-d1024-k1024-r0064-n032-warm"
    slow = shifted(cur, case, 1.5)
    cfg = replace(PROJECT_CONFIG, absolute="never", ratios="never")
    result = gate.compare_runs(slow, base, cfg)
    assert not result.ratios_compared and not any(f.is_ratio for f in result.findings)
    assert result.exit_code == 0
    text = gate_report.to_text(result)
    assert text.startswith("PASS (exact metrics only: no timing compared)") and "ratios=never" in text
    changed = copy.deepcopy(slow)
    bench = next(b for b in changed["benchmarks"] if b["param"] == case)
    bench["extra_info"]["flops"] += 2
    result = gate.compare_runs(changed, base, cfg)
    assert [(f.case, f.metric) for f in result.regressions] == [(case, "exact:flops")]
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "slow.json").write_text(json.dumps(slow))
    args = ["gate", str(tmp_path / "slow.json"), "--baseline", str(tmp_path / "base.json"), "--absolute", "never"]
    assert cli.main(args) == 1  # the ratio regression, judged by default
    assert cli.main([*args, "--ratios", "never"]) == 0


def test_a_ratios_mode_that_is_not_one_of_the_two_is_refused(tmp_path):
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.lowrank-bench.gate]\nratios = "sometimes"\n')
    with pytest.raises(LowRankValueError, match=r"ratios='sometimes': accepted 'always', 'never'"):
        gate.load_config(config)


def test_a_same_run_speedup_is_judged_on_the_paired_figures_where_both_runs_have_them():
    # Seeded round ratios: the head's paired speedup is 20% lower, its medians are not (the dense
    # product's own rounds got slower on the baseline's day): the paired figure decides, not the medians.
    import numpy as np

    rng = np.random.default_rng(0)

    def bench(median, ratios=None):
        extra = {"suite": "matvec"}
        if ratios is not None:
            extra.update(paired_speedup=float(np.median(ratios)), process_pair_ratios=[list(ratios)])
        return {"stats": {"median": median, "data": list(median * rng.lognormal(0, 0.01, 30))}, "extra_info": extra}

    cfg = gate.validate_config(gate.GateConfig(speedup_min_effect=0.10))
    base = {"f": bench(1e-6, 4.0 * rng.lognormal(0, 0.02, 40)), "d": bench(4e-6)}
    cur = {"f": bench(1e-6, 3.2 * rng.lognormal(0, 0.02, 40)), "d": bench(4e-6)}
    finding = gate.pair_finding("f", "d", "speedup", base, cur, cfg)
    assert finding.status == "regression" and finding.ratio == pytest.approx(0.8, rel=0.02)
    assert finding.note.startswith("paired speedups")
    # one side without pairs (a baseline from before pairing): the medians, as before
    old = {"f": {**base["f"], "extra_info": {"suite": "matvec"}}, "d": base["d"]}
    finding = gate.pair_finding("f", "d", "speedup", old, cur, cfg)
    assert finding.status == "unchanged" and finding.ratio == pytest.approx(1.0, rel=0.05)


def _paired_bench(rng, centres, rounds=40, spread=0.002):
    """A factored case whose processes each time tight rounds around their own centre."""
    from lowrank.record import pairs

    ratios = [list(c * rng.lognormal(0, spread, rounds)) for c in centres]
    extra = {"suite": "matvec", **pairs.summarize(ratios)}
    return {"stats": {"median": 1e-6}, "extra_info": extra}


def test_processes_that_disagree_widen_the_gates_interval_as_they_widen_the_records():
    # Each process's rounds within 0.2%, the processes 1.6-2.5 apart: the spread between
    # processes is what decides where the next run lands, and both intervals must carry it.
    import numpy as np

    from lowrank.record import stats

    rng = np.random.default_rng(5)
    cfg = gate.validate_config(gate.GateConfig(speedup_min_effect=0.10))
    base = {"f": _paired_bench(rng, [1.6, 2.0, 2.5]), "d": {"stats": {"median": 4e-6}, "extra_info": {}}}
    # An A/A: the same code, its processes drawn again from the same modes, the speedup 13% lower.
    cur = {"f": _paired_bench(rng, [1.5, 1.6, 2.2]), "d": {"stats": {"median": 4e-6}, "extra_info": {}}}
    finding = gate.pair_finding("f", "d", "speedup", base, cur, cfg)
    record = base["f"]["extra_info"]
    assert finding.ratio < 1 / 1.1  # beyond the minimum effect: only the interval keeps it a pass
    assert math.log(finding.high / finding.low) >= math.log(record["paired_speedup_hi"] / record["paired_speedup_lo"])
    assert finding.status == "unchanged" and finding.note.endswith("processes then rounds")
    # What the gate did before: the rounds pooled across processes, an interval as tight as the
    # rounds, which called this A/A a regression.
    pooled = [[r for p in run["f"]["extra_info"]["process_pair_ratios"] for r in p] for run in (base, cur)]
    _, low, high = stats.ratio_interval([pooled[1]], [pooled[0]], confidence=1 - cfg.alpha)
    assert high < 1


def test_an_a_a_of_runs_whose_processes_disagree_passes_the_gate():
    # A recorded run with every paired speedup's processes replaced by constructed ones: tight
    # rounds, processes in three modes 1.56x apart; the second run drew the slow mode twice.
    import numpy as np

    from lowrank.record import pairs

    rng = np.random.default_rng(7)
    base, cur = recorded.run("matvec-aa", 1), recorded.run("matvec-aa", 1)
    paired = 0
    for b, c in zip(base["benchmarks"], cur["benchmarks"]):
        speedup = (b.get("extra_info") or {}).get("paired_speedup")
        if not speedup:
            continue
        paired += 1
        for bench, modes in ((b, (0.8, 1.0, 1.25)), (c, (0.8, 1.0, 0.8))):
            ratios = [list(speedup * m * rng.lognormal(0, 0.002, 30)) for m in modes]
            bench["extra_info"].update(pairs.summarize(ratios))
    result = gate.compare_runs(cur, base)
    speedups = [f for f in result.findings if f.metric == "speedup"]
    assert paired and len(speedups) == paired
    assert all(f.ratio < 1 / 1.1 for f in speedups)  # beyond the minimum effect, every one
    assert not result.regressions, [(f.case, f.ratio, f.low, f.high) for f in result.regressions]


def test_a_paired_speedup_without_round_ratios_is_judged_on_the_stored_intervals():
    import numpy as np

    rng = np.random.default_rng(6)
    cfg = gate.validate_config(gate.GateConfig(speedup_min_effect=0.10))
    base = {"f": _paired_bench(rng, [4.0, 4.0]), "d": {"stats": {"median": 4e-6}, "extra_info": {}}}
    cur = {"f": _paired_bench(rng, [3.0, 3.0]), "d": {"stats": {"median": 4e-6}, "extra_info": {}}}
    for run in (base, cur):
        del run["f"]["extra_info"]["process_pair_ratios"]
    finding = gate.pair_finding("f", "d", "speedup", base, cur, cfg)
    assert finding.status == "regression" and finding.note.endswith("stored intervals")
    assert finding.low < finding.ratio < finding.high < 1
