"""The benchmark suites as units: each module here declares one suite's record, pairings and exact fields.

Adding a suite is two files: ``benchmarks/bench_<name>.py`` (its cases and the timed
call) and a module here defining ``SUITE`` (what its results hold and how they are
judged); every module of this package but ``base`` is found and registered, as asv
collects its commands. Loading, ``docs/schema.md``, ``compare``, ``gate``,
``baseline``, ``export`` and the report loop over :data:`SUITES`.
"""

from __future__ import annotations

import importlib
import pkgutil

from lowrank.record.suites.base import EXACT_KINDS, Field, Pairing, Suite, field_problems

# matvec first (the product's question), then the others by name: the order of docs and report.
MODULES = tuple(sorted((m.name for m in pkgutil.iter_modules(__path__) if m.name != "base" and not m.name.startswith("_")),
                       key=lambda name: (name != "matvec", name)))
SUITES: dict[str, Suite] = {}
for _name in MODULES:
    _suite = importlib.import_module(f"{__name__}.{_name}").SUITE
    if _suite.name in SUITES:
        raise ValueError(f"suite {_suite.name!r} is defined twice (lowrank/record/suites/{_name}.py)")
    SUITES[_suite.name] = _suite


def get(name: str) -> Suite:
    """The suite called ``name``; the error lists the known ones."""
    try:
        return SUITES[name]
    except KeyError:
        raise KeyError(f"unknown suite {name!r}; known: {', '.join(SUITES)}") from None


__all__ = ["EXACT_KINDS", "Field", "Pairing", "SUITES", "Suite", "field_problems", "get"]
