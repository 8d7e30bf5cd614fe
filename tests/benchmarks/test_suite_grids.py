"""Grids of the factorization and LoRA suites (factorize_grid.py, lora_grid.py): sizes per profile, ids, and what runs where."""

import numpy as np

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
    # Ours against its peer at 4096², rank 64, every knob in "default"; the exact SVD beside them there is in
    # "full" (20-35 s a call here, warmed up and timed in every process) and at 1024² in "default".
    def target(profile, d):
        cases = fg.factorize_cases(selection.select(profile, backends="numpy,torch-cpu"))
        return [c for c in cases if (c.d, c.k, c.rank, c.spectrum, c.dtype) == (d, d, 64, "power-law", "float32")]

    randomized = {("randomized", "numpy"), ("randomized", "torch-cpu"), ("sklearn_randomized_svd", "numpy"),
                  ("torch_svd_lowrank", "torch-cpu")}
    exact = {("svd", "numpy"), ("svd", "torch-cpu")}
    assert {(c.method, c.backend) for c in target("default", 4096)} == randomized
    assert {(c.method, c.backend) for c in target("default", 1024)} == randomized | exact
    assert {(c.method, c.backend) for c in target("full", 4096)} == randomized | exact
    default = target("default", 4096)
    knobs = {(c.oversampling, c.power_iterations) for c in default if c.method == "randomized"}
    assert {(10, 2), (10, 1), (40, 1), (10, 4)} <= knobs
    # Ours and its peer share every knob, so their curves compare point by point.
    assert knobs == {(c.oversampling, c.power_iterations) for c in default if c.method == "torch_svd_lowrank"}


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


def test_factorizations_are_timed_one_call_a_round_within_the_grids_budget():
    # Calls of milliseconds to seconds: the profile's warm-up (at least two calls), then at least one round.
    from benchmarks.profiles import PROFILES

    for prof in PROFILES.values():
        policy = prof.factorize.policy(prof.timing)
        assert policy.warmup_s == prof.timing.warmup_s and policy.min_rounds == 1
        assert (policy.budget_s, policy.max_rounds) == (prof.factorize.budget_s, prof.factorize.max_rounds)


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
