"""The benchmark profiles: one registry of what ``quick``, ``default`` and ``full`` run in every suite.

``LOWRANK_BENCH_PROFILE`` (or ``--lowrank-profile``) picks one for every suite at once; the
matvec grid's parts can be replaced by the ``LOWRANK_BENCH_*`` variables
(:mod:`benchmarks.harness.selection`). Each suite's grid type lives with the suite
(``benchmarks/<suite>/grid.py``); what each profile holds is decided here, side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks.engine.timing import PairPolicy, Policy
from benchmarks.factorize.grid import SPECTRA, FactorizeProfile
from benchmarks.lora.grid import LoraProfile
from lowrank.backends import BACKEND_NAMES

# -- the factorization suite: which factorizations, and how long each may take ---------------------
_SWEEP = ((10, 0), (5, 1), (10, 1), (20, 1), (40, 1), (0, 2), (5, 2), (10, 2), (20, 2), (10, 4))

_FACTORIZE: dict[str, FactorizeProfile] = {
    "quick": FactorizeProfile(
        shapes=((384, 256),),
        ranks=(16,),
        sweep_rank=16,
        spectra=("power-law", "exact-rank"),
        dtypes=("float32",),
        sweep_knobs=((10, 0), (10, 2)),
        rank_knobs=(),
        exact_max_dim=512,
        exact_all_spectra_max_dim=512,
        # Calls of 1-2 ms: 3 rounds let our/peer time ratios move by 60% between quick runs, too
        # much for the CI gate to judge them; 25 rounds cost under 0.1 s a case.
        budget_s=0.05,
        max_rounds=25,
        single_pass=False,  # calls of 1-2 ms: every pass, like the matvec cases
    ),
    "default": FactorizeProfile(
        # Kept to a few minutes on 2 cores: the 4096x1024 shape, the rank-256 cells and every
        # spectrum at 4096² are in "full".
        shapes=((1024, 1024), (4096, 4096)),
        ranks=(16, 64),
        sweep_rank=64,
        spectra=SPECTRA,
        dtypes=("float32",),
        sweep_knobs=((10, 0), (10, 1), (40, 1), (0, 2), (10, 2), (20, 2), (10, 4)),
        rank_knobs=((10, 1), (10, 2)),
        exact_max_dim=4096,
        exact_all_spectra_max_dim=1024,
        budget_s=0.4,
        max_rounds=7,
        # 4096² on the decaying and the flat spectrum (the easy and the hard case for a
        # randomized SVD): every spectrum there cost 100 s per backend; all four are at 1024².
        all_spectra_max_dim=1024,
        large_spectra=("power-law", "gaussian"),
    ),
    "full": FactorizeProfile(
        shapes=((1024, 1024), (4096, 4096), (4096, 1024), (1024, 4096), (4096, 11008), (8192, 8192)),
        ranks=(16, 64, 256, 1024),
        sweep_rank=64,
        spectra=SPECTRA,
        dtypes=("float32", "float64"),
        sweep_knobs=_SWEEP + ((80, 1), (40, 2), (10, 3), (10, 6)),
        rank_knobs=((10, 1), (10, 2), (10, 4)),
        exact_max_dim=4096,  # an exact SVD of 8192² takes minutes on 2 cores
        exact_all_spectra_max_dim=4096,
        budget_s=2.0,
        max_rounds=15,
    ),
}


# -- the LoRA suite ----------------------------------------------------------------------------------
_LORA: dict[str, LoraProfile] = {
    "quick": LoraProfile(
        shapes=((512, 512),),
        ranks=(16,),
        batches=(1, 32),
        dtypes=("float32",),
        merge_shapes=((256, 256),),
        merge_ranks=(16,),
        cpu_half_merge_max_dim=256,
    ),
    "default": LoraProfile(
        shapes=((1024, 1024), (4096, 4096), (4096, 11008)),
        ranks=(8, 16, 64, 256),
        batches=(1, 32, 512),
        dtypes=("float32",),
        merge_shapes=((1024, 1024), (4096, 4096)),
        merge_ranks=(16, 64),
        cpu_half_merge_max_dim=1024,
        # The MLP shape at n = 512: compute-bound like 4096² at n = 512, which stays, and 0.4 s a call;
        # timed with its interleaved pairs it costs over half a minute a backend, which keeps the run
        # under its 15-minute budget (docs/suite.md). It is in "full".
        skip=((4096, 11008, 512),),
    ),
    "full": LoraProfile(
        shapes=((1024, 1024), (4096, 4096), (4096, 11008), (11008, 4096), (8192, 8192)),
        ranks=(4, 8, 16, 64, 256, 1024),
        batches=(1, 8, 32, 128, 512),
        dtypes=("float32",),
        merge_shapes=((1024, 1024), (4096, 4096), (4096, 11008)),
        merge_ranks=(16, 64, 256),
        cpu_half_merge_max_dim=1024,
    ),
}



# -- every suite, by profile ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Profile:
    """A named grid for every suite and how each of its cases is timed.

    The matvec grid's fields are top level (the product's question, and what the
    ``LOWRANK_BENCH_SHAPES``/``_RANKS``/``_BATCHES``/``_CACHE`` variables replace); the
    other suites' grids are ``factorize`` and ``lora``.
    """

    name: str
    description: str
    backends: tuple[str, ...]
    dtypes: tuple[str, ...]
    shapes: tuple[tuple[int, int], ...]
    base_ranks: tuple[int, ...]
    batches: tuple[int, ...]
    caches: tuple[str, ...]
    timing: Policy  # how each case is timed (benchmarks/engine/timing.py)
    # How many alternating rounds a factored case gets beside its dense partner (the paired speedup).
    pairing: PairPolicy
    factorize: FactorizeProfile  # the factorization suite's grid
    lora: LoraProfile  # the LoRA suite's grid
    # Cells left out to keep the profile's wall time in budget: (d, k, dtype, batch), None
    # matching any value. They apply to the profile's own shapes: a shape the user names
    # in LOWRANK_BENCH_SHAPES is timed at every dtype and batch asked for.
    skip: tuple[tuple[int, int, str | None, int | None], ...] = field(default=())
    # A dense case's own timing (None: ``timing``). Every factored case of its group times it
    # again beside itself, so its own rounds only give the dense time of the tables and the gate.
    dense_timing: Policy | None = None
    # After pass 1, one rank per matvec curve near its break-even, timed by the later passes
    # (benchmarks/matvec/refine.py). Off where a run's cases must be the same every time (CI's quick runs).
    refine_break_even: bool = False
    # Passes after the run's own that time only the factored cases whose pair's two calls are both short
    # (under timing.long_call_s) in a warm cache (benchmarks/engine/driver.py): a few-microsecond call has
    # two speeds about 2x apart on a shared VM, switching over seconds to minutes, which only more
    # processes average. Not used where the user asks for one process (LOWRANK_BENCH_PROCESSES=1: no driver).
    short_pair_extra_processes: int = 0

    def skips(self, d: int, k: int, dtype: str, batch: int) -> bool:
        return any((d, k) == (sd, sk) and sdt in (None, dtype) and sb in (None, batch)
                   for sd, sk, sdt, sb in self.skip)


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        factorize=_FACTORIZE["quick"],
        lora=_LORA["quick"],
        description="CI smoke grid: 3 small shapes, float32+float64, batch 1 and 32, warm cache",
        backends=BACKEND_NAMES,
        dtypes=("float32", "float64"),
        shapes=((256, 256), (1024, 1024), (1024, 256)),
        base_ranks=(1, 4, 16, 64),
        batches=(1, 32),
        caches=("warm",),
        timing=Policy(round_s=1e-3, min_rounds=10, max_rounds=40, budget_s=0.012, warmup_s=0.005),
        pairing=PairPolicy(min_pairs=10, max_pairs=20, budget_s=0.012, min_pairs_long=4, min_pairs_very_long=4),
    ),
    "default": Profile(
        name="default",
        factorize=_FACTORIZE["default"],
        lora=_LORA["default"],
        description="square 256-8192 and 4096x1024 both ways, ranks 1..r*, batch 1/32/512, warm; cold at n=1",
        backends=BACKEND_NAMES,
        dtypes=("float32", "float64"),
        shapes=((256, 256), (1024, 1024), (4096, 4096), (8192, 8192), (4096, 1024), (1024, 4096)),
        base_ranks=(1, 4, 16, 64, 256),
        batches=(1, 32, 512),
        caches=("warm", "cold"),
        timing=Policy(round_s=2e-3, min_rounds=15, max_rounds=60, budget_s=0.04, warmup_s=0.01),
        # 6 or more pairs of 2 ms rounds a pass, on each side (8 before the extra passes; 4 did worse:
        # results/measurements/speedup-agreement-20261206-*.json); a call of 10 ms or more on either
        # side, one ABBA block per pass, a partner of 0.1 s or more too (a 4096² GEMM at n = 512 costs
        # 0.19 s a call): its case is timed in every pass since its own call is short. A case of 0.1 s
        # or more itself (r* and the refined ranks at 4096², n = 512; four a run, 2.3 s) is timed in
        # pass 1 only: two ABBA blocks.
        pairing=PairPolicy(min_pairs=6, max_pairs=30, budget_s=0.024, min_pairs_long=2, min_pairs_very_long=2,
                           min_pairs_single_pass=4),
        dense_timing=Policy(round_s=2e-3, min_rounds=8, max_rounds=20, budget_s=0.016, warmup_s=0.01,
                            min_rounds_long=3),
        # 8192² is timed at n = 1 only, where W streams from DRAM and nothing else in the grid
        # shows it. float64 and n = 512 (compute-bound like 4096² at n = 512, 7 s a call pair)
        # cost about 3 minutes, n = 32 about 50 s more, of a run that must stay under 15; all
        # three are in "full". So is 4096² float64 at n = 512: compute-bound like float32 there,
        # and with the dense GEMM (0.35 s a call) timed beside each of its 7 ranks, 60 s of a run.
        skip=((8192, 8192, "float64", None), (8192, 8192, None, 32), (8192, 8192, None, 512),
              (4096, 4096, "float64", 512)),
        refine_break_even=True,
        # Warm pairs of short calls in 5 processes instead of 3 (issue 24: what each try bought is in
        # results/measurements/speedup-agreement-20261206-*.json; cold cases in them too took the run to
        # 16 minutes, one extra pass did worse).
        short_pair_extra_processes=2,
    ),
    "full": Profile(
        name="full",
        factorize=_FACTORIZE["full"],
        lora=_LORA["full"],
        description="default plus 8192 float64, the 4096x11008 transformer MLP shape both ways, longer timing",
        backends=BACKEND_NAMES,
        dtypes=("float32", "float64"),
        shapes=(
            (256, 256),
            (1024, 1024),
            (4096, 4096),
            (8192, 8192),
            (4096, 1024),
            (1024, 4096),
            (4096, 11008),
            (11008, 4096),
        ),
        base_ranks=(1, 4, 16, 64, 256, 1024),
        batches=(1, 32, 512),
        caches=("warm", "cold"),
        timing=Policy(round_s=5e-3, min_rounds=25, max_rounds=200, budget_s=0.3, warmup_s=0.05),
        pairing=PairPolicy(min_pairs=20, max_pairs=100, budget_s=0.3, min_pairs_long=6, min_pairs_very_long=4),
        refine_break_even=True,
        short_pair_extra_processes=3,
    ),
}
