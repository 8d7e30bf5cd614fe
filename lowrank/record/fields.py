"""A field of a result record: its JSON type, what it means, and the check of a record against fields.

Used by the run's own block (:mod:`lowrank.record.schema`) and by each suite's record
(:mod:`lowrank.record.suites`), so both sit above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

_PY_TYPES = {"str": (str,), "int": (int,), "float": (float, int), "dict": (dict,), "list": (list,), "bool": (bool,),
             "null": (type(None),)}
# pandas dtypes of the numeric JSON types; nullable ints become Int64 when a row lacks the value.
PANDAS_DTYPES = {"int": "int64", "int|null": "Int64", "float": "float64", "float|null": "float64"}


@dataclass(frozen=True)
class Field:
    """One ``extra_info`` field: its JSON type (``"int|null"``: int or null) and what it means.

    ``after_timing``: filled only once the case was timed, or added by a later schema
    version; a file without it reads as null (not measured) instead of failing.
    """

    type: str
    doc: str
    after_timing: bool = False

    def __post_init__(self):
        unknown = [t for t in self.type.split("|") if t not in _PY_TYPES]
        if unknown:
            raise ValueError(f"field type {self.type!r}: unknown part(s) {unknown}; accepted: {sorted(_PY_TYPES)}")


Record = Mapping[str, Field]


def field_problems(record: dict, fields: Mapping[str, Field | str]) -> list[str]:
    """Each way ``record`` departs from ``fields`` (missing field, wrong JSON type); empty when it fits."""
    problems = []
    for name, spec in fields.items():
        spec = spec.type if isinstance(spec, Field) else spec
        if name not in record:
            problems.append(f"missing field {name!r}")
            continue
        value = record[name]
        parts = spec.split("|")
        allowed = tuple(t for part in parts for t in _PY_TYPES[part])
        if (isinstance(value, bool) and "bool" not in parts) or not isinstance(value, allowed):
            problems.append(f"field {name!r} is {type(value).__name__} {value!r}, expected {spec}")
    return problems
