"""A user's checkpoint: formats read alike, spectra against Eckart–Young, rank plans, bad input, MiniLM."""

import itertools

import numpy as np
import pytest

from lowrank import generators
from lowrank.model import analysis as model
from lowrank.model.rankplan import layer_spectrum, plan_max_error, plan_param_budget


def test_spectra_meet_eckart_young_and_skips_say_why(checkpoints, tensors):
    _, synth = tensors
    analysis = model.analyse_checkpoint(checkpoints["safetensors"])
    assert sorted(sp.name for sp in analysis.spectra) == sorted(synth)
    skipped = dict(analysis.skipped)
    assert "embedding" in skipped["embeddings.word_embeddings.weight"]
    assert "1-D" in skipped["block.q.bias"] and "1-D" in skipped["step"]
    for sp in analysis.spectra:
        W = synth[sp.name].W.astype(np.float32).astype(np.float64)
        s = np.linalg.svd(W, compute_uv=False)
        for r in (1, 3, 5, 10):
            expected = np.sqrt((s[r:] ** 2).sum()) / np.linalg.norm(W)
            assert sp.relative_error(r) == pytest.approx(expected, rel=1e-9, abs=1e-12), (sp.name, r)
    low = next(sp for sp in analysis.spectra if sp.name == "block.low.weight")
    assert low.relative_error(5) < 1e-6  # rank 5 recovers the rank-5 weight (float32 rounding aside)
    assert low.stable_rank < 5 <= low.effective_rank + 1


def test_max_error_plan_takes_the_smallest_rank_and_keeps_unprofitable_layers_dense(checkpoints):
    analysis = model.analyse_checkpoint(checkpoints["npz"])
    plans = {p.name: p for p in plan_max_error(analysis.spectra, 0.05)}
    for sp in analysis.spectra:
        p = plans[sp.name]
        if p.rank is None:
            r_needed = sp.rank_for_error(0.05)
            assert r_needed is None or r_needed >= sp.break_even_rank
            assert p.params_factored == p.params_dense and p.reason
        else:
            assert sp.relative_error(p.rank) <= 0.05 < sp.relative_error(p.rank - 1) or p.rank == 1
            assert p.params_factored == p.rank * sum(sp.shape) < p.params_dense
    assert plans["block.low.weight"].rank == 5


def test_the_budget_plan_is_within_its_stated_gap_of_the_brute_force_optimum():
    spectra = [layer_spectrum(f"l{i}", generators.SyntheticMatrix.build(d, k, s, seed=i).W)
               for i, (d, k, s) in enumerate([(12, 8, 1 / np.arange(1, 9)), (10, 10, np.exp(-np.arange(10) / 2)),
                                              (6, 14, np.linspace(2, 1, 6))])]
    for fraction in (0.35, 0.5, 0.7, 0.9):
        bp = plan_param_budget(spectra, fraction)
        assert bp.used <= bp.budget
        best = np.inf
        options = [[*range(1, int(sp.break_even_rank) + 1), None] for sp in spectra]
        for choice in itertools.product(*options):
            cost = sum(sp.params if r is None else sp.factored_params(r) for sp, r in zip(spectra, choice))
            if cost <= bp.budget:
                err = sum(0.0 if r is None else (sp.relative_error(r) * sp.fro_norm) ** 2 for sp, r in zip(spectra, choice))
                best = min(best, err)
        assert best - 1e-12 <= bp.squared_error <= best + bp.gap_bound + 1e-12, fraction


def test_randomized_spectra_bound_the_error_from_above(tensors):
    _, synth = tensors
    W = synth["block.q.weight"].W
    exact = layer_spectrum("q", W, method="exact")
    approx = layer_spectrum("q", W, max_rank=24, method="randomized")
    assert not approx.exact and approx.max_rank == 24
    for r in (1, 4, 12):
        assert approx.relative_error(r) >= exact.relative_error(r) - 1e-12
        assert approx.relative_error(r) == pytest.approx(exact.relative_error(r), rel=1e-3)


def test_loss_ratio_cuts_more_where_the_truncation_loss_is_smaller_and_keeps_each_kinds_share():
    """SVD-LLM V2's rule within a kind: R_i ∝ 1/log L_i with mean R; a kind of one layer keeps the uniform rank."""
    import math

    from lowrank.model.rankplan import layer_kind, plan_loss_ratio, plan_uniform

    fast = np.exp(-np.arange(64) / 4.0)  # a quickly decaying spectrum: small loss at the uniform rank
    slow = 1 / np.sqrt(np.arange(1, 65))  # a slowly decaying one: a large loss there
    mats = {"blocks.0.q.weight": fast, "blocks.1.q.weight": slow, "blocks.0.up.weight": slow}
    spectra = [layer_spectrum(name, generators.SyntheticMatrix.build(64, 64, s * 1e4, seed=i).W)
               for i, (name, s) in enumerate(mats.items())]
    assert layer_kind("blocks.1.q.weight") == "blocks.*.q.weight"
    plan = {p.name: p for p in plan_loss_ratio(spectra, 0.6)}
    uniform = {p.name: p for p in plan_uniform(spectra, 0.6)}
    assert plan["blocks.0.q.weight"].rank < uniform["blocks.0.q.weight"].rank < plan["blocks.1.q.weight"].rank
    assert plan["blocks.0.up.weight"].rank == uniform["blocks.0.up.weight"].rank  # alone in its kind
    # the kind's removed fractions average to 1 - 0.6, up to flooring
    by = {sp.name: sp for sp in spectra}
    removed = [1 - plan[n].rank / by[n].break_even_rank for n in ("blocks.0.q.weight", "blocks.1.q.weight")]
    assert np.mean(removed) == pytest.approx(0.4, abs=2 / by["blocks.0.q.weight"].break_even_rank)
    losses = [by[n].relative_error(uniform[n].rank) * by[n].fro_norm for n in ("blocks.0.q.weight", "blocks.1.q.weight")]
    assert min(losses) > 1  # the formula's own range: no rescaling in this case
    expected = 2 * 0.4 * (1 / math.log(losses[0])) / sum(1 / math.log(x) for x in losses)
    assert removed[0] == pytest.approx(expected, abs=1 / by["blocks.0.q.weight"].break_even_rank)
