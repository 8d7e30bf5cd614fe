"""The user's choice of cases: a profile narrowed or replaced by the ``LOWRANK_BENCH_*`` variables.

``LOWRANK_BENCH_BACKENDS`` and ``LOWRANK_BENCH_DTYPES`` apply to every suite (the
other suites use the dtypes only when given); ``LOWRANK_BENCH_CACHE`` (``warm``, ``cold``
or ``both``), ``LOWRANK_BENCH_SHAPES`` (``4096x4096,4096x1024``), ``LOWRANK_BENCH_RANKS``
(``1,16,64``; given explicitly, r*/2 and r* are not added) and ``LOWRANK_BENCH_BATCHES``
replace parts of the matvec grid. Nothing here times anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.matvec.grid import CACHE_MODES, ranks_for
from benchmarks.profiles import PROFILES, Profile
from lowrank.backends import BACKEND_NAMES, TORCH_DTYPES


class GridError(ValueError):
    """A profile, backend, dtype or grid that cannot be run; the message says what is accepted."""



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


