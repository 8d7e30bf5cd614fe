"""The benchmark profiles: one registry of what ``quick``, ``default`` and ``full`` run in every suite.

``LOWRANK_BENCH_PROFILE`` (or ``--lowrank-profile``) picks one for every suite at once; the
matvec grid's parts can be replaced by the ``LOWRANK_BENCH_*`` variables
(:mod:`benchmarks.harness.selection`). Each suite's grid type lives with the suite
(``benchmarks/<suite>/grid.py``); what each profile holds is decided here, side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks.engine.timing import Policy
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
        # Calls of 1-2 ms: a few rounds let our/peer time ratios move too far between quick runs for
        # the CI gate to judge them; 25 rounds cost under 0.1 s a case.
        budget_s=0.05,
        max_rounds=25,
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
        # The exact SVD of 4096² (20-35 s a call, warmed up and timed in every process) is in "full".
        exact_max_dim=1024,
        exact_all_spectra_max_dim=1024,
        budget_s=0.15,
        max_rounds=5,
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
        budget_s=0.7,
        max_rounds=7,
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
    timing: Policy  # how each case is timed in each process (benchmarks/engine/timing.py, docs/timing.md)
    factorize: FactorizeProfile  # the factorization suite's grid
    lora: LoraProfile  # the LoRA suite's grid
    # Cells left out to keep the profile's wall time in budget: (d, k, dtype, batch), None
    # matching any value. They apply to the profile's own shapes: a shape the user names
    # in LOWRANK_BENCH_SHAPES is timed at every dtype and batch asked for.
    skip: tuple[tuple[int, int, str | None, int | None], ...] = field(default=())

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
        # Rounds of 1 ms, at least 10 of each side: the CI gate judges single quick runs.
        timing=Policy(warmup_s=0.005, round_s=1e-3, budget_s=0.012, min_rounds=10, max_rounds=40),
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
        # Rounds of 2 ms for 30 ms a case and process: a pair of short calls gets about 8 ABBA rounds of
        # each side in each of the run's processes; a pair with a call of 0.1 s or more gets one block.
        timing=Policy(warmup_s=0.01, round_s=2e-3, budget_s=0.03, min_rounds=2, max_rounds=40),
        # 8192² is timed at n = 1 only, where W streams from DRAM and nothing else in the grid
        # shows it. float64 and n = 512 (compute-bound like 4096² at n = 512, 7 s a call pair)
        # cost about 3 minutes, n = 32 about 50 s more, of a run that must stay under 15; all
        # three are in "full". So is 4096² float64 at n = 512: compute-bound like float32 there,
        # and with the dense GEMM (0.35 s a call) timed beside each of its 7 ranks, 60 s of a run.
        skip=((8192, 8192, "float64", None), (8192, 8192, None, 32), (8192, 8192, None, 512),
              (4096, 4096, "float64", 512)),
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
        timing=Policy(warmup_s=0.05, round_s=5e-3, budget_s=0.3, min_rounds=4, max_rounds=200),
    ),
}
