"""The cost model: parameters, bytes, FLOPs, bytes moved, break-even rank."""

import pytest

import lowrank


def test_break_even_rank_values_from_the_reference():
    assert lowrank.break_even_rank(1024, 1024) == 512
    assert lowrank.break_even_rank(4096, 4096) == 2048
    assert lowrank.break_even_rank(4096, 1024) == pytest.approx(819.2)


@pytest.mark.parametrize("d, k", [(1024, 1024), (4096, 1024), (300, 7000)])
def test_parameters_and_flops_cross_exactly_at_break_even(d, k):
    r_star = lowrank.break_even_rank(d, k)
    dense = lowrank.dense_cost(d, k, n=8)
    below = lowrank.factored_cost(d, k, int(r_star) - 1, n=8)
    above = lowrank.factored_cost(d, k, int(r_star) + 1, n=8)
    assert below.params < dense.params < above.params
    assert below.flops < dense.flops < above.flops


def test_formulas():
    c = lowrank.dense_cost(6, 4, n=3, dtype="float32")
    assert (c.params, c.param_bytes, c.flops, c.bytes_moved) == (24, 96, 144, 4 * (24 + 12 + 18))
    f = lowrank.factored_cost(6, 4, 2, n=3, dtype="float64")
    assert (f.params, f.param_bytes, f.flops, f.bytes_moved) == (20, 160, 120, 8 * (20 + 12 + 6 + 18))
    assert lowrank.dense_cost(6, 4, dtype=2).param_bytes == 48
    assert f.arithmetic_intensity == pytest.approx(120 / 448)


def test_roofline_picks_the_binding_limit():
    c = lowrank.dense_cost(1000, 1000, n=1, dtype="float32")  # memory-bound matvec
    assert c.roofline_seconds(bandwidth=1e10, peak_flops=1e11) == pytest.approx(c.bytes_moved / 1e10)
    big = lowrank.dense_cost(1000, 1000, n=10000, dtype="float32")  # compute-bound
    assert big.roofline_seconds(bandwidth=1e10, peak_flops=1e11) == pytest.approx(big.flops / 1e11)
