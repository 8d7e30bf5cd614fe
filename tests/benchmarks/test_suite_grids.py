"""Grids of the factorization and LoRA suites (factorize_grid.py, lora_grid.py): sizes per profile, ids, and what runs where."""

import numpy as np
import pytest

from benchmarks.factorize import grid as fg
from benchmarks.factorize import operands as fops
from benchmarks.harness import selection
from benchmarks.lora import grid as lg
from benchmarks.profiles import PROFILES


def test_every_profile_expands_with_unique_ids_and_quick_stays_tiny():
    for name in PROFILES:
        sel = selection.select(name)
        cases = fg.factorize_cases(sel) + lg.lora_forward_cases(sel) + lg.lora_merge_cases(sel)
        assert cases and len({c.id for c in cases}) == len(cases), name
    quick = selection.select("quick", backends="numpy,torch-cpu")
    fc = fg.factorize_cases(quick)
    assert len(fc) <= 24 and max(max(c.d, c.k) for c in fc) <= 512
    assert len(lg.lora_forward_cases(quick)) + len(lg.lora_merge_cases(quick)) <= 16


def test_the_issue_target_is_in_the_default_sweep():
    cases = fg.factorize_cases(selection.select("default", backends="numpy,torch-cpu"))
    target = [c for c in cases if (c.d, c.k, c.rank, c.spectrum, c.dtype) == (4096, 4096, 64, "power-law", "float32")]
    methods = {(c.method, c.backend) for c in target}
    assert methods == {("svd", "numpy"), ("svd", "torch-cpu"), ("randomized", "numpy"), ("randomized", "torch-cpu"),
                       ("sklearn_randomized_svd", "numpy"), ("torch_svd_lowrank", "torch-cpu")}
    knobs = {(c.oversampling, c.power_iterations) for c in target if c.method == "randomized"}
    assert {(10, 2), (10, 1), (40, 1), (10, 4)} <= knobs
    # Ours and its peer share every knob, so their curves compare point by point.
    assert knobs == {(c.oversampling, c.power_iterations) for c in target if c.method == "torch_svd_lowrank"}


def test_ids_read_and_cases_sharing_a_matrix_are_adjacent():
    case = fg.FactorizeCase(4096, 4096, "power-law", 64, "numpy", "float32", "randomized", 10, 2)
    assert case.id == "numpy-float32-d4096-k4096-r0064-power-law-randomized-p010-q2"
    assert fg.FactorizeCase(4096, 4096, "power-law", 64, "numpy", "float32", "svd").id.endswith("-power-law-svd")
    lc = lg.LoraCase("forward", 4096, 4096, "numpy", "float32", 1, "unmerged", 16)
    assert lc.id == "forward-numpy-float32-d4096-k4096-r0016-n001-unmerged"
    assert lc.group == lg.LoraCase("forward", 4096, 4096, "numpy", "float32", 1, "merged", None).group
    cases = fg.factorize_cases(selection.select("default", backends="numpy"))
    keys = [(c.d, c.k, c.spectrum, fops.rank_key(c.spectrum, c.rank)) for c in cases]
    seen = []
    for key in keys:  # each matrix is built once: its cases form one contiguous run
        if not seen or seen[-1] != key:
            assert key not in seen, key
            seen.append(key)


def test_half_precision_where_it_is_fast_and_dtype_overrides():
    sel = selection.select("default")
    lf = lg.lora_forward_cases(sel)
    assert {c.dtype for c in lf if c.backend == "torch-cuda"} == {"float32", "float16", "bfloat16"}
    assert {c.dtype for c in lf if c.backend != "torch-cuda"} == {"float32"}
    merges = lg.lora_merge_cases(sel)
    assert all(max(c.d, c.k) <= 1024 for c in merges if c.backend == "torch-cpu" and c.dtype != "float32")
    assert {c.variant for c in merges if c.dtype == "bfloat16"} == {"native", "float32-accumulate"}
    explicit = selection.select("quick", dtypes="float64,float16")
    assert {c.dtype for c in fg.factorize_cases(explicit, explicit_dtypes=True)} == {"float64"}  # no half SVD
    assert {c.dtype for c in fg.factorize_cases(explicit)} == {"float32"}


def test_spectra_have_the_documented_shape():
    mp = fops.marchenko_pastur_singular_values(400, 400)
    assert mp[0] < 2.0 and mp[-1] > 0 and np.all(np.diff(mp) < 0)
    # The quarter-circle law has mean 8/(3π) ≈ 0.849.
    assert abs(mp.mean() - 8 / (3 * np.pi)) < 1e-3
    tall = fops.marchenko_pastur_singular_values(1000, 250)  # y = 1/4: support [1/2, 3/2]
    assert 0.5 <= tall.min() and tall.max() <= 1.5
    ex = fops.spectrum_values("exponential", 300, 200, 20)
    assert ex[20] / ex[0] == np.float64(1e-3) or abs(ex[20] / ex[0] - 1e-3) < 1e-15
    er = fops.spectrum_values("exact-rank", 300, 200, 20)
    assert np.count_nonzero(er) == 20 and er.size == 200


def test_a_call_the_cost_model_says_outlasts_the_budget_is_timed_once_without_an_untimed_call():
    from benchmarks.factorize import operands as ops
    from benchmarks.factorize.grid import FactorizeCase

    calls = []
    exact = FactorizeCase(4096, 4096, "power-law", 64, "numpy", "float32", "svd", None, None)
    # the bidiagonalisation of 4096^2 alone: 8/3 * 4096^3 FLOPs, 1.8 s at 100 GFLOP/s
    assert ops.min_seconds(exact, 100.0) == pytest.approx(8 / 3 * 4096**3 / 100e9)
    assert ops.plan_rounds(lambda: calls.append(1), False, 0.4, 5, ops.min_seconds(exact, 100.0)) == (1, None)
    assert calls == []
    # a cheap call is warmed up once, then gets at least MIN_ROUNDS
    small = FactorizeCase(1024, 1024, "power-law", 64, "numpy", "float32", "svd", None, None)
    rounds, first = ops.plan_rounds(lambda: calls.append(1), False, 0.4, 5, ops.min_seconds(small, 100.0))
    assert calls == [1] and first is not None and rounds >= ops.MIN_ROUNDS
    assert ops.min_seconds(exact, None) == 0.0  # no calibration: no shortcut


def test_large_shapes_sweep_only_their_spectra():
    prof = PROFILES["default"].factorize
    cases = fg.factorize_cases(selection.select("default"))
    small = {c.spectrum for c in cases if max(c.d, c.k) <= prof.all_spectra_max_dim}
    large = {c.spectrum for c in cases if max(c.d, c.k) > prof.all_spectra_max_dim}
    assert small == set(fg.SPECTRA)
    assert large == set(prof.large_spectra) and large < small
    full = fg.factorize_cases(selection.select("full"))
    assert {c.spectrum for c in full if c.d == 4096} == set(fg.SPECTRA)


def test_a_lora_cell_the_profile_skips_is_left_out_there_and_kept_in_full():
    def cells(profile):
        return {(c.d, c.k, c.batch) for c in lg.lora_forward_cases(selection.select(profile, backends="numpy"))}

    default, full = cells("default"), cells("full")
    assert (4096, 11008, 512) not in default and (4096, 11008, 512) in full
    assert {(4096, 11008, 1), (4096, 11008, 32), (4096, 4096, 512)} <= default
