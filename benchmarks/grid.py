"""The benchmark grid: named profiles expanded into cases with readable, sortable ids.

A profile is chosen by ``LOWRANK_BENCH_PROFILE`` (or ``--lowrank-profile``). Its
parts can be replaced with comma-separated lists: ``LOWRANK_BENCH_BACKENDS``,
``LOWRANK_BENCH_DTYPES``, ``LOWRANK_BENCH_CACHE`` (``warm``, ``cold`` or ``both``),
``LOWRANK_BENCH_SHAPES`` (``4096x4096,4096x1024``), ``LOWRANK_BENCH_RANKS``
(``1,16,64``; given explicitly, r*/2 and r* are not added) and
``LOWRANK_BENCH_BATCHES``. Nothing here times anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lowrank.backends import BACKEND_NAMES, NUMPY_DTYPES, TORCH_DTYPES
from lowrank.cost import break_even_rank

from .timing import Policy

CACHE_MODES = ("warm", "cold")
# Half precision is timed on CUDA only: CPU BLAS has no fast float16/bfloat16 GEMV,
# so such a CPU timing would measure a conversion loop, not the idea.
CUDA_EXTRA_DTYPES = ("float16", "bfloat16")


class GridError(ValueError):
    """A profile, backend, dtype or grid that cannot be run; the message says what is accepted."""


@dataclass(frozen=True)
class Profile:
    """A named benchmark grid and how each of its cases is timed."""

    name: str
    description: str
    backends: tuple[str, ...]
    dtypes: tuple[str, ...]
    shapes: tuple[tuple[int, int], ...]
    base_ranks: tuple[int, ...]
    batches: tuple[int, ...]
    caches: tuple[str, ...]
    timing: Policy  # how each case is timed (benchmarks/timing.py)
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
        description="CI smoke grid: 3 small shapes, float32+float64, batch 1 and 32, warm cache",
        backends=BACKEND_NAMES,
        dtypes=("float32", "float64"),
        shapes=((256, 256), (1024, 1024), (1024, 256)),
        base_ranks=(1, 4, 16, 64),
        batches=(1, 32),
        caches=("warm",),
        timing=Policy(round_s=1e-3, min_rounds=10, max_rounds=40, budget_s=0.012, warmup_s=0.005),
    ),
    "default": Profile(
        name="default",
        description="square 256-8192 and 4096x1024 both ways, ranks 1..r*, batch 1/32/512, warm; cold at n=1",
        backends=BACKEND_NAMES,
        dtypes=("float32", "float64"),
        shapes=((256, 256), (1024, 1024), (4096, 4096), (8192, 8192), (4096, 1024), (1024, 4096)),
        base_ranks=(1, 4, 16, 64, 256),
        batches=(1, 32, 512),
        caches=("warm", "cold"),
        timing=Policy(round_s=2e-3, min_rounds=15, max_rounds=60, budget_s=0.04, warmup_s=0.01),
        # 8192² is timed at n = 1 only, where W streams from DRAM and nothing else in the grid
        # shows it. float64 and n = 512 (compute-bound like 4096² at n = 512, 7 s a call pair)
        # cost about 3 minutes, n = 32 about 50 s more, of a run that must stay under 15; all
        # three are in "full".
        skip=((8192, 8192, "float64", None), (8192, 8192, None, 32), (8192, 8192, None, 512)),
    ),
    "full": Profile(
        name="full",
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
    ),
}
# The default profile times cold cache at batch 1 only: that is where a matvec is
# memory-bound and the cache matters; at n >= 32 the operands are re-used n times.
COLD_BATCHES = (1,)


@dataclass(frozen=True, order=True)
class Case:
    """One benchmark: an operand set and a variant (dense when ``rank`` is None)."""

    d: int
    k: int
    dtype: str
    backend: str
    batch: int
    cache: str
    rank: int | None = None

    @property
    def variant(self) -> str:
        return "dense" if self.rank is None else "factored"

    @property
    def id(self) -> str:
        """e.g. ``numpy-float32-d4096-k4096-r0064-n001-warm``; dense cases read ``dense`` for the rank."""
        r = "dense" if self.rank is None else f"r{self.rank:04d}"
        return f"{self.backend}-{self.dtype}-d{self.d:04d}-k{self.k:04d}-{r}-n{self.batch:03d}-{self.cache}"

    @property
    def group(self) -> str:
        """Dense and factored cases of one operand set share a group (pytest-benchmark's table)."""
        return f"{self.backend}-{self.dtype}-d{self.d:04d}-k{self.k:04d}-n{self.batch:03d}-{self.cache}"


def ranks_for(d: int, k: int, base_ranks) -> list[int]:
    """Base ranks up to min(d, k), plus r*/2 and r* so that every curve crosses speedup 1."""
    r_star = break_even_rank(d, k)
    ranks = {r for r in base_ranks if r <= min(d, k)}
    ranks.update({max(1, int(r_star // 2)), max(1, int(r_star))})
    return sorted(ranks)


def _parse_ints(value: str | None, name: str) -> tuple[int, ...] | None:
    if value is None or value.strip() == "":
        return None
    try:
        items = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise GridError(f"{name}={value!r}: expected comma-separated positive integers, e.g. '1,16,64'") from None
    if not items or min(items) < 1:
        raise GridError(f"{name}={value!r}: expected comma-separated positive integers, e.g. '1,16,64'")
    return items


def _parse_shapes(value: str | None) -> tuple[tuple[int, int], ...] | None:
    if value is None or value.strip() == "":
        return None
    shapes = []
    for item in value.split(","):
        parts = item.strip().lower().split("x")
        if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise GridError(f"LOWRANK_BENCH_SHAPES={value!r}: {item.strip()!r} is not DxK; accepted e.g. '4096x1024'")
        shapes.append((int(parts[0]), int(parts[1])))
    return tuple(shapes)


def _parse_list(value: str | None, name: str, accepted) -> tuple[str, ...] | None:
    if value is None or value.strip() == "":
        return None
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if not items:
        raise GridError(f"{name}={value!r} names no value; accepted: a comma-separated list of "
                        f"{', '.join(map(repr, accepted))}")
    bad = [v for v in items if v not in accepted]
    if bad:
        raise GridError(
            f"{name}={value!r}: unknown value(s) {', '.join(map(repr, bad))}; "
            f"accepted: {', '.join(map(repr, accepted))}"
        )
    return items


@dataclass(frozen=True)
class Selection:
    """A profile narrowed by the user's backend, dtype and cache choices."""

    profile: Profile
    backends: tuple[str, ...]
    dtypes: tuple[str, ...]
    caches: tuple[str, ...]
    shapes: tuple[tuple[int, int], ...]
    batches: tuple[int, ...]
    ranks: tuple[int, ...] | None = None  # explicit ranks; None: the profile's plus r*/2 and r*
    explicit_shapes: bool = False  # LOWRANK_BENCH_SHAPES given: the profile's skips do not apply
    explicit_backends: bool = False
    explicit_dtypes: bool = False  # LOWRANK_BENCH_DTYPES given: the other suites use it instead of their own

    def ranks_for(self, d: int, k: int) -> list[int]:
        if self.ranks is None:
            return ranks_for(d, k, self.profile.base_ranks)
        bad = [r for r in self.ranks if r > min(d, k)]
        if bad:
            raise GridError(
                f"LOWRANK_BENCH_RANKS: rank {bad[0]} is impossible for the {d}x{k} shape; "
                f"accepted: 1 to min(d, k) = {min(d, k)}"
            )
        return sorted(set(self.ranks))


def select_from_env(env) -> Selection:
    """:func:`select` with the values of the ``LOWRANK_BENCH_*`` variables in mapping ``env``."""
    get = env.get
    return select(
        get("LOWRANK_BENCH_PROFILE"),
        backends=get("LOWRANK_BENCH_BACKENDS"),
        dtypes=get("LOWRANK_BENCH_DTYPES"),
        caches=get("LOWRANK_BENCH_CACHE"),
        shapes=get("LOWRANK_BENCH_SHAPES"),
        ranks=get("LOWRANK_BENCH_RANKS"),
        batches=get("LOWRANK_BENCH_BATCHES"),
    )


def select(
    profile: str | None,
    backends: str | None = None,
    dtypes: str | None = None,
    caches: str | None = None,
    shapes: str | None = None,
    ranks: str | None = None,
    batches: str | None = None,
) -> Selection:
    """Resolve the user's choices (strings as in the environment variables) into a :class:`Selection`."""
    name = profile or "default"
    if name not in PROFILES:
        raise GridError(
            f"LOWRANK_BENCH_PROFILE={name!r} is not a profile; accepted: {', '.join(map(repr, PROFILES))}"
        )
    prof = PROFILES[name]
    chosen_backends = _parse_list(backends, "LOWRANK_BENCH_BACKENDS", BACKEND_NAMES)
    chosen_dtypes = _parse_list(dtypes, "LOWRANK_BENCH_DTYPES", TORCH_DTYPES)
    cache_value = "warm,cold" if caches == "both" else caches
    chosen_caches = _parse_list(cache_value, "LOWRANK_BENCH_CACHE", CACHE_MODES + ("both",))
    return Selection(
        profile=prof,
        backends=chosen_backends or prof.backends,
        dtypes=chosen_dtypes or prof.dtypes,
        caches=chosen_caches or prof.caches,
        shapes=_parse_shapes(shapes) or prof.shapes,
        batches=_parse_ints(batches, "LOWRANK_BENCH_BATCHES") or prof.batches,
        ranks=_parse_ints(ranks, "LOWRANK_BENCH_RANKS"),
        explicit_shapes=shapes is not None and shapes.strip() != "",
        explicit_backends=chosen_backends is not None,
        explicit_dtypes=chosen_dtypes is not None,
    )


def dtypes_for(backend: str, selection: Selection) -> tuple[str, ...]:
    """The dtypes timed on ``backend``: the selection's, plus half precision on CUDA."""
    allowed = NUMPY_DTYPES if backend == "numpy" else TORCH_DTYPES
    dtypes = [dt for dt in selection.dtypes if dt in allowed and (backend == "torch-cuda" or dt in NUMPY_DTYPES)]
    if backend == "torch-cuda":
        dtypes += [dt for dt in CUDA_EXTRA_DTYPES if dt not in dtypes]
    return tuple(dtypes)


def expand(selection: Selection) -> list[Case]:
    """Every case of the selection, ordered so that cases sharing operands run together.

    Raises :class:`GridError` for an impossible grid (a rank above min(d, k)).
    """
    prof = selection.profile
    cases = []
    for d, k in selection.shapes:
        ranks = selection.ranks_for(d, k)
        for backend in selection.backends:
            for dtype in dtypes_for(backend, selection):
                for batch in selection.batches:
                    if not selection.explicit_shapes and prof.skips(d, k, dtype, batch):
                        continue
                    for cache in selection.caches:
                        if cache == "cold" and batch not in COLD_BATCHES and prof.name != "full":
                            continue
                        cases.append(Case(d, k, dtype, backend, batch, cache, None))
                        cases.extend(Case(d, k, dtype, backend, batch, cache, r) for r in ranks)
    return cases
