"""``lowrank-bench ab``: the paired verdicts on constructed rounds, its input errors, and one real A/B run
of two commits, the second making ``apply`` twice as slow."""

import math

import numpy as np
import pytest

from lowrank.judge import paired


def _rounds(n, median, noise, rng, factor=1.0):
    return {r: median * factor * math.exp(rng.normal(0, noise)) for r in range(1, n + 1)}


def _cases(n_cases, n_rounds, rng, noise=0.01, slow=None, factor=1.0):
    """``n_cases`` cases of one backend; ``slow`` names the one whose head is ``factor`` times slower."""
    out = {}
    for i in range(n_cases):
        name = f"case{i:02d}"
        out[name] = paired.CaseRounds("matvec", "numpy", _rounds(n_rounds, 1e-5 * (i + 1), noise, rng),
                                      _rounds(n_rounds, 1e-5 * (i + 1), noise, rng, factor if name == slow else 1.0))
    return out


def _by_case(judgement):
    return {v.case: v for v in judgement.verdicts}


@pytest.mark.parametrize(("estimate", "low", "high", "expected"), [
    (1.10, 1.04, 1.16, "slower"),
    (1.03, 1.01, 1.05, "same"),  # significant but within the threshold
    (0.90, 0.85, 0.95, "faster"),
    (1.10, 0.98, 1.23, "undecided"),  # beyond the threshold, not significant
    (1.00, 0.90, 1.11, "undecided"),  # too wide to rule out a 5% change
])
def test_verdicts(estimate, low, high, expected):
    assert paired.verdict(estimate, low, high, threshold=0.05) == expected


def test_a_ten_percent_slowdown_is_found_and_named_among_quiet_cases():
    rng = np.random.default_rng(1)
    cases = _cases(40, 9, rng, noise=0.015, slow="case07", factor=1.10)
    j = paired.judge(cases, threshold=0.05, alpha=0.05, looks=3)
    verdicts = _by_case(j)
    assert verdicts["case07"].verdict == "slower"
    assert 1.05 < verdicts["case07"].ratio < 1.15
    assert [v.case for v in j.verdicts if v.verdict == "slower"] == ["case07"]


def test_a_a_noise_gives_no_slower_case():
    rng = np.random.default_rng(2)
    for _ in range(20):
        j = paired.judge(_cases(60, 6, rng, noise=0.03), threshold=0.05, alpha=0.05, looks=3)
        assert j.count("slower") == 0 and j.count("faster") == 0


def test_a_single_outlier_process_of_a_case_is_left_out():
    rng = np.random.default_rng(3)
    cases = _cases(3, 9, rng, noise=0.005)
    cases["case01"].head[4] *= 1.8  # one process of one case landed 1.8x slow, as seen on the VM
    v = _by_case(paired.judge(cases, threshold=0.05, alpha=0.05, looks=1))["case01"]
    assert v.dropped == 1 and v.rounds == 8
    assert v.verdict == "same" and abs(v.ratio - 1) < 0.02


def test_a_disturbed_process_is_left_out_for_its_backend_on_both_sides():
    rng = np.random.default_rng(4)
    cases = _cases(12, 9, rng, noise=0.005)
    for case in cases.values():
        case.base[2] *= 1.25  # a whole base process slowed, as another tenant does
    j = paired.judge(cases, threshold=0.05, alpha=0.05, looks=1)
    assert j.disturbed == [("base", "numpy", 2)]
    assert all(v.rounds == 8 and v.dropped == 1 for v in j.verdicts)
    assert j.count("same") == 12


def test_a_change_of_every_head_process_is_not_mistaken_for_a_disturbance():
    rng = np.random.default_rng(5)
    cases = _cases(12, 9, rng, noise=0.005)
    for case in cases.values():
        for r in case.head:
            case.head[r] *= 1.2  # the code got slower: every head process alike
    j = paired.judge(cases, threshold=0.05, alpha=0.05, looks=1)
    assert j.disturbed == []
    assert j.count("slower") == 12


def test_process_shifts_need_enough_processes_and_cases():
    rng = np.random.default_rng(6)
    assert paired.process_shifts(_cases(12, 2, rng)) == {}  # two processes: none can be told off the other
    assert paired.process_shifts(_cases(4, 9, rng)) == {}  # four cases: one outlier would move the median
    assert len(paired.process_shifts(_cases(8, 3, rng))) == 6  # 3 rounds x 2 sides
