"""Per-layer spectra of a model's weight matrices and rank plans under an error or parameter budget.

For each layer W (d×k) :func:`layer_spectrum` keeps the singular values σ₁ ≥ σ₂ ≥ …
and ‖W‖_F. By Eckart–Young the best rank-r approximation has relative Frobenius error

    e(r) = √(‖W‖_F² − Σ_{i≤r} σ_i²) / ‖W‖_F,

so the top singular values and the norm give the error at every rank up to the
largest kept: an exact SVD (values only) where it is cheap, else a randomized SVD to
that rank (its σ̂_i are at most σ_i, so e(r) computed from them is an upper bound; the
spectrum records which).

Plans (:func:`plan_max_error`, :func:`plan_param_budget`) give each layer a rank, or
None to keep it dense (a rank at or above r* = dk/(d+k) saves nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lowrank.errors import LowRankValueError
from lowrank.validation import check_int

# An exact SVD (singular values only) up to this many multiply-adds d·k·min(d, k): 2048² is about a second.
EXACT_LIMIT = 2048**3


@dataclass(frozen=True)
class LayerSpectrum:
    """The singular values of one layer's weight (largest first) and its Frobenius norm."""

    name: str
    shape: tuple[int, int]
    dtype: str
    singular_values: np.ndarray = field(repr=False)
    fro_norm: float
    exact: bool  # every singular value (exact SVD); else the top ones of a randomized SVD

    @property
    def params(self) -> int:
        d, k = self.shape
        return d * k

    @property
    def break_even_rank(self) -> float:
        """r* = dk/(d+k): at this rank B and A hold as many values as W."""
        d, k = self.shape
        return d * k / (d + k)

    @property
    def max_rank(self) -> int:
        """The largest rank whose error this spectrum gives."""
        return int(self.singular_values.size)

    def factored_params(self, rank: int) -> int:
        d, k = self.shape
        return rank * (d + k)

    def relative_error(self, rank: int) -> float:
        """e(r), the relative Frobenius error of the best rank-``rank`` approximation (0 for rank ≥ min(d, k))."""
        rank = check_int(rank, "rank", minimum=0)
        if rank >= min(self.shape):
            return 0.0
        if rank > self.max_rank:
            raise LowRankValueError(f"{self.name}: the spectrum holds {self.max_rank} singular values, so the error at "
                                    f"rank {rank} is unknown; accepted: 0 to {self.max_rank}")
        return float(self.errors()[rank])

    def errors(self) -> np.ndarray:
        """e(r) for r = 0 … max_rank."""
        s2 = self.singular_values.astype(np.float64) ** 2
        total = self.fro_norm**2
        if self.exact:
            tail = np.concatenate([np.cumsum(s2[::-1])[::-1], [0.0]])  # Σ_{i>r} σ_i², summed small to large
        else:
            tail = np.maximum(total - np.concatenate([[0.0], np.cumsum(s2)]), 0.0)
        return np.sqrt(tail) / self.fro_norm if self.fro_norm > 0 else np.zeros(s2.size + 1)

    def rank_for_error(self, max_error: float) -> int | None:
        """The smallest rank with e(r) ≤ ``max_error``; None when no rank the spectrum covers reaches it."""
        hits = np.nonzero(self.errors() <= max_error)[0]
        return int(hits[0]) if hits.size else None

    @property
    def stable_rank(self) -> float:
        """‖W‖_F² / σ₁²: a smooth lower bound on the rank."""
        return float(self.fro_norm**2 / self.singular_values[0] ** 2) if self.singular_values[0] > 0 else 0.0

    @property
    def effective_rank(self) -> float | None:
        """exp of the entropy of σ_i / Σσ_j (Roy & Vetterli, 2007); None without the whole spectrum."""
        if not self.exact:
            return None
        s = self.singular_values[self.singular_values > 0]
        p = s / s.sum()
        return float(np.exp(-(p * np.log(p)).sum()))


def layer_spectrum(name: str, W, max_rank: int | None = None, *, method: str = "auto", seed: int = 0,
                   dtype: str | None = None) -> LayerSpectrum:
    """The spectrum of one 2-D weight ``W`` (numpy), exactly or to ``max_rank`` by randomized SVD.

    ``method``: ``"exact"`` (every singular value), ``"randomized"`` (the top ``max_rank``,
    oversampling 10 and 4 power iterations: on decaying spectra the σ̂_i agree with σ_i to
    about 1e-3 relative and the errors from them are upper bounds) or ``"auto"`` (exact
    up to :data:`EXACT_LIMIT` multiply-adds or when ``max_rank`` is None).
    """
    W = np.asarray(W)
    if W.ndim != 2 or W.dtype.kind != "f":
        raise LowRankValueError(f"{name}: a layer spectrum needs a 2-D floating array, got shape {W.shape} "
                                f"dtype {W.dtype}")
    d, k = W.shape
    m = min(d, k)
    fro = _fro_norm(W)
    if method not in ("auto", "exact", "randomized"):
        raise LowRankValueError(f"method={method!r}; accepted: 'auto', 'exact', 'randomized'")
    exact = method == "exact" or (method == "auto" and (max_rank is None or d * k * m <= EXACT_LIMIT or max_rank >= m))
    if exact:
        s = np.linalg.svd(W.astype(np.float64, copy=False), compute_uv=False)
    else:
        r = check_int(max_rank, "max_rank", minimum=1, maximum=m)
        from lowrank.factorize import factorize

        # In the weight's own precision (float32 for half): no float64 copy of a large layer, so the peak
        # memory stays near one tensor; σ̂ to ~1e-6 relative is far inside the 1e-3 the errors need.
        Wr = W if W.dtype in (np.float32, np.float64) else W.astype(np.float32)
        f = factorize(Wr, rank=r, method="randomized", oversampling=10, power_iterations=4, seed=seed)
        s = np.sort(np.asarray(f.singular_values, dtype=np.float64))[::-1]  # the SVD paths always keep σ
    return LayerSpectrum(name, (d, k), dtype or W.dtype.name, np.asarray(s, dtype=np.float64), fro, exact)


def _fro_norm(W: np.ndarray, rows: int = 1024) -> float:
    """‖W‖_F accumulated in float64, a block of rows at a time (no float64 copy of the whole layer)."""
    total = 0.0
    for start in range(0, W.shape[0], rows):
        block = W[start:start + rows].astype(np.float64)
        total += float(np.einsum("ij,ij->", block, block))
    return math.sqrt(total)


# -- plans ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerPlan:
    """One layer's decision: a rank, or None to keep it dense, with its error and parameters."""

    name: str
    shape: tuple[int, int]
    rank: int | None
    relative_error: float
    params_dense: int
    params_factored: int  # what the layer holds under the plan (params_dense when kept dense)
    reason: str = ""


def _plan_for(sp: LayerSpectrum, rank: int | None, reason: str = "") -> LayerPlan:
    if rank is None or rank >= sp.break_even_rank:
        why = reason or (f"rank {rank} ≥ r* = {sp.break_even_rank:.0f}: no parameter saving" if rank else "")
        return LayerPlan(sp.name, sp.shape, None, 0.0, sp.params, sp.params, why)
    return LayerPlan(sp.name, sp.shape, rank, sp.relative_error(rank), sp.params, sp.factored_params(rank), reason)


def plan_max_error(spectra: list[LayerSpectrum], max_error: float) -> list[LayerPlan]:
    """Each layer at the smallest rank whose relative Frobenius error is at most ``max_error``."""
    if not (isinstance(max_error, (int, float)) and 0 < max_error < 1):
        raise LowRankValueError(f"max_error={max_error!r}; accepted: a relative error in (0, 1), e.g. 0.1")
    plans = []
    for sp in spectra:
        rank = sp.rank_for_error(max_error)
        if rank is None:
            plans.append(_plan_for(sp, None, f"error {max_error:g} needs a rank above the {sp.max_rank} analysed"))
        else:
            plans.append(_plan_for(sp, max(rank, 1)))
    return plans


@dataclass(frozen=True)
class BudgetPlan:
    """A plan under a parameter budget, with how far from optimal the allocation can be."""

    layers: list[LayerPlan]
    budget: int  # parameters allowed
    used: int
    squared_error: float  # Σ_l ‖W_l − B_l A_l‖_F², absolute
    gap_bound: float  # the optimum's Σ squared error is at least squared_error − gap_bound


def plan_param_budget(spectra: list[LayerSpectrum], fraction: float) -> BudgetPlan:
    """Ranks that keep at most ``fraction`` of the parameters and minimise Σ_l ‖W_l − B_l A_l‖_F².

    Raising layer l's rank from r to r+1 removes σ_{r+1}² of error for d_l + k_l
    parameters; each layer's gains fall with r, so taking steps in order of gain per
    parameter (greedy) solves the continuous relaxation exactly, and the integer plan
    it stops at is within one step's gain of the optimum (``gap_bound``, the gain of
    the first step that did not fit). Keeping a layer dense is its last step: from r*
    down, B and A would hold more values than W. Every layer gets at least rank 1.
    """
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise LowRankValueError(f"params fraction={fraction!r}; accepted: a fraction in (0, 1], e.g. 0.5")
    total = sum(sp.params for sp in spectra)
    budget = int(math.floor(fraction * total))
    ranks = {sp.name: 1 for sp in spectra}
    used = sum(sp.factored_params(1) for sp in spectra)
    if used > budget:
        raise LowRankValueError(f"params fraction={fraction:g} allows {budget} parameters, but rank 1 in every layer "
                                f"needs {used} ({used / total:.2%} of them); accepted: a fraction ≥ {used / total:.4f}")
    import heapq

    def step(sp: LayerSpectrum, r: int):
        """(−gain per parameter, gain, cost, next rank or None for dense) of the step from rank r."""
        r_max = int(math.floor(sp.break_even_rank))
        s2 = sp.singular_values.astype(np.float64) ** 2
        if r < min(r_max, sp.max_rank) and r < s2.size:
            gain, cost, nxt = float(s2[r]), sp.shape[0] + sp.shape[1], r + 1
        else:  # the last step: dense, error 0
            gain = float((sp.relative_error(min(r, sp.max_rank)) * sp.fro_norm) ** 2)
            cost, nxt = sp.params - sp.factored_params(r), None
        return (-(gain / cost) if cost > 0 else -math.inf, gain, cost, nxt)

    by_name = {sp.name: sp for sp in spectra}
    heap = []
    for sp in spectra:
        neg, gain, cost, nxt = step(sp, 1)
        heapq.heappush(heap, (neg, sp.name, gain, cost, nxt))
    dense: set[str] = set()
    gap = 0.0
    while heap:
        neg, name, gain, cost, nxt = heapq.heappop(heap)
        if used + cost > budget:
            gap = gain  # the first step that did not fit bounds the distance to the optimum
            break
        used += cost
        if nxt is None:
            dense.add(name)
            continue
        ranks[name] = nxt
        neg, gain, cost, after = step(by_name[name], nxt)
        heapq.heappush(heap, (neg, name, gain, cost, after))
    layers = [LayerPlan(sp.name, sp.shape, None, 0.0, sp.params, sp.params, "kept dense by the budget")
              if sp.name in dense else
              LayerPlan(sp.name, sp.shape, ranks[sp.name], sp.relative_error(ranks[sp.name]), sp.params,
                        sp.factored_params(ranks[sp.name])) for sp in spectra]
    sq = sum((p.relative_error * by_name[p.name].fro_norm) ** 2 for p in layers)
    return BudgetPlan(layers, budget, used, float(sq), float(gap))


def plan_uniform(spectra: list[LayerSpectrum], fraction: float) -> list[LayerPlan]:
    """Every layer at the same fraction of its own parameters: r = ⌊f·dk/(d+k)⌋ (at least 1), the naive allocation
    the method papers use (SVD-LLM's uniform ratio); a baseline for :func:`plan_param_budget`."""
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise LowRankValueError(f"params fraction={fraction!r}; accepted: a fraction in (0, 1], e.g. 0.5")
    return [_plan_for(sp, min(max(1, int(math.floor(fraction * sp.break_even_rank))), sp.max_rank)) for sp in spectra]


def layer_kind(name: str) -> str:
    """The layer's kind: its name with block numbers replaced by ``*`` (``model.layers.*.self_attn.q_proj.weight``);
    a transformer repeats a few kinds of layer."""
    import re

    return re.sub(r"(?<=\.)\d+(?=\.)", "*", name)


LOSS_RATIO = ("SVD-LLM V2's heterogeneous ratios: within each kind of layer (the same name in every block), the "
              "fraction removed R_i = n·R·(1/log L_i) / Σ_j (1/log L_j), L_i the layer's truncation loss at the "
              "uniform rank of the fraction kept 1 − R (its output error ‖(W − W_r)X‖_F on the calibration tokens, "
              "or its weight error without calibration), n the kind's layers; r_i = ⌊(1 − R_i)·dk/(d+k)⌋")


def plan_loss_ratio(spectra: list[LayerSpectrum], fraction: float, norms: dict[str, float] | None = None
                    ) -> list[LayerPlan]:
    """Ranks by SVD-LLM V2's per-matrix ratios from the truncation loss (:data:`LOSS_RATIO`).

    ``norms``: each layer's absolute norm ‖W S‖_F (the spectra are scaled to ‖W‖_F; the loss is
    taken in the layer's own output units, as V2 does); default the spectra's own norm. Where a
    kind's smallest loss is at most 1 (1/log L would change sign), its losses are scaled so the
    smallest is e, a deviation from V2 recorded here. Each kind keeps its share of the budget up
    to the flooring of the ranks, so the plan keeps at most about ``fraction`` of the parameters.
    """
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise LowRankValueError(f"params fraction={fraction!r}; accepted: a fraction in (0, 1], e.g. 0.5")
    removed = 1 - fraction
    groups: dict[str, list[LayerSpectrum]] = {}
    for sp in spectra:
        groups.setdefault(layer_kind(sp.name), []).append(sp)
    ranks: dict[str, int] = {}
    for members in groups.values():
        losses = []
        for sp in members:
            r = min(max(1, int(math.floor(fraction * sp.break_even_rank))), sp.max_rank)
            scale = (norms or {}).get(sp.name, sp.fro_norm)
            losses.append(max(sp.relative_error(r) * scale, np.finfo(np.float64).tiny))
        lowest = min(losses)
        if lowest <= 1:
            losses = [x * math.e / lowest for x in losses]
        inverse = [1 / math.log(x) for x in losses]
        for sp, w in zip(members, inverse):
            share = min(len(members) * removed * w / sum(inverse), 1.0)  # the fraction of this layer removed
            ranks[sp.name] = min(max(1, int(math.floor((1 - share) * sp.break_even_rank))), sp.max_rank)
    return [_plan_for(sp, ranks[sp.name]) for sp in spectra]
