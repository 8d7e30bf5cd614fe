"""The result schema shared by the benchmark suite (writer) and the analysis (reader).

Each benchmark of this suite stores, in pytest-benchmark's ``extra_info``, a
``schema`` field ``"lowrank-bench/<version>"`` plus the fields below; each run
stores a ``lowrank_bench`` block in ``machine_info``. The human-readable version
of this contract is ``benchmarks/SCHEMA.md``; change both together and bump
:data:`SCHEMA_VERSION` on any incompatible change.
"""

from __future__ import annotations

SCHEMA_NAME = "lowrank-bench"
SCHEMA_VERSION = 1
SCHEMA_TAG = f"{SCHEMA_NAME}/{SCHEMA_VERSION}"

# extra_info fields of a matvec benchmark and their JSON types ("int|null": int or null).
MATVEC_FIELDS: dict[str, str] = {
    "schema": "str",
    "suite": "str",
    "variant": "str",  # "dense" (W @ x) or "factored" (B @ (A @ x))
    "backend": "str",
    "device": "str",
    "dtype": "str",
    "d": "int",
    "k": "int",
    "rank": "int|null",
    "batch": "int",
    "method": "str|null",
    "matrix": "str",
    "cache": "str",
    "cache_copies": "int",
    "rel_error_fro": "float",
    "optimal_error_fro": "float",
    "output_error": "float",
    "params": "int",
    "param_bytes": "int",
    "flops": "int",
    "bytes_moved": "int",
    "break_even_rank": "float",
    "blas_threads": "int|null",
    "torch_threads": "int|null",
    "peak_bytes": "int|null",
    "peak_method": "str",
    "gflops": "float|null",
    "gbps": "float|null",
    "roofline_fraction": "float|null",
}

# machine_info["lowrank_bench"] fields of a run.
RUN_FIELDS: dict[str, str] = {
    "schema": "str",
    "profile": "str",
    "threads": "dict",
    "versions": "dict",
    "calibration": "dict",
    "fingerprint": "str",
}


def parse_tag(tag) -> int | None:
    """The schema version in ``"lowrank-bench/<n>"``, or None when the tag is not this suite's."""
    if not isinstance(tag, str) or not tag.startswith(SCHEMA_NAME + "/"):
        return None
    try:
        return int(tag.split("/", 1)[1])
    except ValueError:
        return None


_PY_TYPES = {"str": (str,), "int": (int,), "float": (float, int), "dict": (dict,), "null": (type(None),)}


def field_problems(record: dict, fields: dict[str, str]) -> list[str]:
    """Each way ``record`` departs from ``fields`` (missing field, wrong JSON type); empty when it fits."""
    problems = []
    for name, spec in fields.items():
        if name not in record:
            problems.append(f"missing field {name!r}")
            continue
        value = record[name]
        allowed = tuple(t for part in spec.split("|") for t in _PY_TYPES[part])
        if isinstance(value, bool) or not isinstance(value, allowed):
            problems.append(f"field {name!r} is {type(value).__name__} {value!r}, expected {spec}")
    return problems
