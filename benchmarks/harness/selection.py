"""The user's choice of cases: a profile narrowed or replaced by the ``LOWRANK_BENCH_*`` variables.

``LOWRANK_BENCH_BACKENDS`` and ``LOWRANK_BENCH_DTYPES`` apply to every suite (the
other suites use the dtypes only when given); ``LOWRANK_BENCH_CACHE`` (``warm``, ``cold``
or ``both``), ``LOWRANK_BENCH_SHAPES`` (``4096x4096,4096x1024``), ``LOWRANK_BENCH_RANKS``
(``1,16,64``; given explicitly, r*/2 and r* are not added) and ``LOWRANK_BENCH_BATCHES``
replace parts of the matvec grid. Nothing here times anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.engine import machine
from benchmarks.matvec.grid import CACHE_MODES, expand, ranks_for
from benchmarks.profiles import PROFILES, Profile
from lowrank.backends import BACKEND_NAMES, TORCH_DTYPES


class GridError(ValueError):
    """A profile, backend, dtype or grid that cannot be run; the message says what is accepted."""


# The largest D, K, rank or batch a user may name. A value past it is a typo, not a case: the
# largest weight of a published model (an output layer over a vocabulary of up to 256k words,
# which `lowrank-bench model` times at its own shape) has under 2**18 rows, and 2**16 would
# refuse it. Whether a shape fits this machine is checked apart (:func:`check_memory`).
MAX_DIM = 2**20
_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}


def _parse_ints(value: str | None, name: str) -> tuple[int, ...] | None:
    if value is None or value.strip() == "":
        return None
    accepted = f"accepted comma-separated positive integers up to {MAX_DIM}, e.g. '1,16,64'"
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    # isdecimal first: int() would also take "1_000" and "+4", and isdigit() passes "²", which int() refuses.
    if not items or not all(v.isdecimal() for v in items):
        raise GridError(f"{name}={value!r}: {accepted}")
    numbers = tuple(int(v) for v in items)
    bad = [v for v in numbers if not 1 <= v <= MAX_DIM]
    if bad:
        raise GridError(f"{name}={value!r}: {bad[0]} is out of range; {accepted}")
    return numbers


def _parse_shapes(value: str | None) -> tuple[tuple[int, int], ...] | None:
    if value is None or value.strip() == "":
        return None
    shapes = []
    for item in value.split(","):
        parts = item.strip().lower().split("x")
        if len(parts) != 2 or not all(p.isdecimal() and int(p) > 0 for p in parts):
            raise GridError(f"LOWRANK_BENCH_SHAPES={value!r}: {item.strip()!r} is not DxK; accepted e.g. '4096x1024', "
                            f"D and K from 1 to {MAX_DIM}")
        d, k = int(parts[0]), int(parts[1])
        if max(d, k) > MAX_DIM:
            raise GridError(f"LOWRANK_BENCH_SHAPES={value!r}: {item.strip()!r} has a dimension past {MAX_DIM}; "
                            f"accepted DxK with D and K from 1 to {MAX_DIM}, e.g. '4096x1024'")
        shapes.append((d, k))
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


def check_memory(selection: Selection, memory: int | None, given: dict[str, str | None]) -> None:
    """Refuse a selection whose largest dense case cannot be held in ``memory`` bytes.

    A dense case holds W (D x K), x (K x n) and y (D x n) at once; a cold-cache case several
    copies, a factored case less. Counting one copy only refuses what cannot run at all: a grid
    past it would fail with a MemoryError (or be killed) minutes into the run, after every case
    before it. ``given``: the variables the user set, named in the message (the profile's own
    grid fits any machine it runs on).
    """
    if not memory:
        return
    cases = [c for c in expand(selection) if c.rank is None]
    if not cases:
        return
    need, case = max(((c.d * c.k + c.k * c.batch + c.d * c.batch) * _BYTES.get(c.dtype, 8), c) for c in cases)
    if need <= memory:
        return
    named = ", ".join(f"{name}={value!r}" for name, value in given.items() if value is not None and value.strip())
    raise GridError(
        f"{named or 'LOWRANK_BENCH_PROFILE=' + repr(selection.profile.name)}: the {case.d}x{case.k} case at "
        f"{case.dtype}, n = {case.batch} needs {need / 2**30:.1f} GiB for W, x and y, more than this machine's "
        f"memory ({memory / 2**30:.1f} GiB); accepted: shapes, batches and dtypes whose operands fit in memory"
    )


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
        """The ranks timed at the ``d`` x ``k`` shape: the explicit ones up to min(d, k) (several shapes of
        one run, as a model's, each take the ranks they can have), else the profile's."""
        if self.ranks is None:
            return ranks_for(d, k, self.profile.base_ranks)
        return sorted(r for r in set(self.ranks) if r <= min(d, k))


def select_from_env(env, memory: int | None = None) -> Selection:
    """:func:`select` with the values of the ``LOWRANK_BENCH_*`` variables in mapping ``env``, refused
    where its largest case does not fit in ``memory`` bytes (default: the machine's, :func:`check_memory`)."""
    get = env.get
    selection = select(
        get("LOWRANK_BENCH_PROFILE"),
        backends=get("LOWRANK_BENCH_BACKENDS"),
        dtypes=get("LOWRANK_BENCH_DTYPES"),
        caches=get("LOWRANK_BENCH_CACHE"),
        shapes=get("LOWRANK_BENCH_SHAPES"),
        ranks=get("LOWRANK_BENCH_RANKS"),
        batches=get("LOWRANK_BENCH_BATCHES"),
    )
    given = {name: get(name) for name in ("LOWRANK_BENCH_SHAPES", "LOWRANK_BENCH_BATCHES", "LOWRANK_BENCH_DTYPES")}
    check_memory(selection, machine.memory_bytes() if memory is None else memory, given)
    return selection


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
    chosen = Selection(
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
    if chosen.ranks:
        widest = max(min(shape) for shape in chosen.shapes)
        if max(chosen.ranks) > widest:
            raise GridError(f"LOWRANK_BENCH_RANKS: rank {max(chosen.ranks)} is impossible for every shape of the run; "
                            f"accepted: 1 to min(d, k) = {widest} (each shape is timed at the ranks up to its own "
                            "min(d, k))")
    return chosen


