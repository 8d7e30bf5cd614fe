"""The benchmark grid: profiles, expansion, ids, overrides and their errors."""

import pytest

from benchmarks.engine.dtypes import dtypes_on
from benchmarks.harness import selection
from benchmarks.matvec import grid
from benchmarks.profiles import PROFILES


def test_every_profile_expands_and_ranks_cross_break_even():
    for name, prof in PROFILES.items():
        cases = grid.expand(selection.select(name))
        assert cases, name
        assert len({c.id for c in cases}) == len(cases), "ids must be unique"
        for d, k in prof.shapes:
            ranks = grid.ranks_for(d, k, prof.base_ranks)
            r_star = d * k / (d + k)
            assert ranks[0] == 1 and int(r_star) in ranks and max(ranks) <= min(d, k)
            assert int(r_star // 2) in ranks


def test_ids_read_and_sort():
    case = grid.Case(4096, 4096, "float32", "numpy", 1, "warm", 64)
    assert case.id == "numpy-float32-d4096-k4096-r0064-n001-warm"
    assert case.group == "numpy-float32-d4096-k4096-n001-warm"
    dense = grid.Case(4096, 4096, "float32", "numpy", 1, "warm", None)
    assert dense.id == "numpy-float32-d4096-k4096-dense-n001-warm" and dense.variant == "dense"
    ids = [grid.Case(d, d, "float32", "numpy", 1, "warm", r).id for d in (256, 1024) for r in (1, 16, 128)]
    assert ids == sorted(ids)


def test_dense_and_factored_share_a_group():
    cases = grid.expand(selection.select("quick", backends="numpy", dtypes="float32"))
    groups = {}
    for c in cases:
        groups.setdefault(c.group, set()).add(c.variant)
    assert all(v == {"dense", "factored"} for v in groups.values())


def test_cuda_gets_half_precision_and_cpu_does_not():
    sel = selection.select("quick")
    assert dtypes_on("torch-cuda", sel.dtypes) == ("float32", "float64", "float16", "bfloat16")
    assert dtypes_on("torch-cpu", sel.dtypes) == ("float32", "float64")
    assert dtypes_on("numpy", selection.select("quick", dtypes="bfloat16,float32").dtypes) == ("float32",)


def test_overrides_narrow_the_grid():
    sel = selection.select_from_env(
        {"LOWRANK_BENCH_PROFILE": "quick", "LOWRANK_BENCH_BACKENDS": "numpy", "LOWRANK_BENCH_SHAPES": "64x32",
         "LOWRANK_BENCH_RANKS": "2,8", "LOWRANK_BENCH_BATCHES": "1", "LOWRANK_BENCH_CACHE": "both"}
    )
    cases = grid.expand(sel)
    assert {(c.d, c.k) for c in cases} == {(64, 32)}
    assert {c.rank for c in cases} == {None, 2, 8}
    assert {c.cache for c in cases} == {"warm", "cold"}
    assert len(cases) == 2 * 3 * 2  # dtypes x variants x caches


def test_default_profile_cold_only_at_batch_one():
    cases = grid.expand(selection.select("default", backends="numpy"))
    assert {c.batch for c in cases if c.cache == "cold"} == {1}
    assert not any(c.d == 8192 and c.dtype == "float64" for c in cases)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"profile": "huge"}, ["'huge'", "'quick', 'default', 'full'"]),
        ({"profile": "quick", "backends": "numpy,jax"}, ["'jax'", "'numpy', 'torch-cpu', 'torch-cuda'"]),
        ({"profile": "quick", "dtypes": "float8"}, ["'float8'", "'bfloat16'"]),
        ({"profile": "quick", "caches": "hot"}, ["'hot'", "'warm', 'cold'"]),
        ({"profile": "quick", "shapes": "64by32"}, ["'64by32'", "DxK"]),
        ({"profile": "quick", "ranks": "a,b"}, ["LOWRANK_BENCH_RANKS", "positive integers"]),
    ],
)
def test_bad_choices_name_the_value_and_the_accepted_ones(kwargs, words):
    with pytest.raises(selection.GridError) as info:
        selection.select(**kwargs)
    for word in words:
        assert word in str(info.value)


def test_a_rank_no_shape_can_have_is_refused():
    with pytest.raises(selection.GridError, match=r"rank 40 is impossible for every shape of the run; accepted: 1 to "
                                                  r"min\(d, k\) = 32"):
        selection.select("quick", shapes="64x32,16x48", ranks="16,40")


def test_each_shape_takes_the_explicit_ranks_it_can_have():
    # One run for a model's shapes: 16x32 cannot have rank 24, 48x32 can.
    cases = grid.expand(selection.select("quick", shapes="16x32,48x32", ranks="8,24", backends="numpy",
                                         dtypes="float32", batches="1", caches="warm"))
    ranks = {}
    for c in cases:
        ranks.setdefault((c.d, c.k), [])
        if c.rank is not None:
            ranks[(c.d, c.k)].append(c.rank)
    assert ranks == {(16, 32): [8], (48, 32): [8, 24]}
    assert sum(c.rank is None for c in cases) == 2  # a dense case per shape


def test_profile_skips_leave_out_their_cells_unless_the_user_names_the_shape():
    default = grid.expand(selection.select("default"))
    big = [c for c in default if (c.d, c.k) == (8192, 8192)]
    assert big and "float64" not in {c.dtype for c in big}
    assert {c.batch for c in big} == {1}, "8192² is timed where W streams from DRAM: n = 1"
    assert any(c.batch == 512 and c.d == 4096 for c in default), "only the 8192² cells are skipped"
    asked = grid.expand(selection.select("default", shapes="8192x8192", batches="512", dtypes="float64", ranks="16", backends="numpy"))
    assert {(c.dtype, c.batch) for c in asked} == {("float64", 512)}
