"""What a benchmark suite is, for everything that reads its results: record, pairings, exact fields.

A :class:`Suite` is declared once, in a module of this package, and used by the
benchmark that writes its results (the ``schema``/``suite`` tags and field names), by
the loader that validates them, by ``docs/schema.md`` (generated from it), and
by the comparison engine of ``compare`` and ``gate`` (its :class:`Pairing` and its
exact fields). asv's ``Results`` and torch.utils.benchmark's ``Measurement`` are the
models: one declared record, read and written by the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from lowrank.record import pairs
from lowrank.record.fields import Field, Record, field_problems
from lowrank.record.schema import COUNT_FIELDS, TIMING_FIELDS, parse_tag

# How an exact field may differ between two runs of the same code (see Suite.exact).
EXACT_KINDS = ("identical", "rtol", "roundoff")

# Fields every suite records alike: declared here once, placed in each suite's record.
SCHEMA_FIELD = Field("str", '`"lowrank-bench/<version>"`; benchmarks without it are not this suite\'s')
DEVICE_FIELD = Field("str", "CPU model or GPU name")
DTYPE_FIELD = Field("str", "e.g. `float32`")
THREAD_FIELDS = {
    "blas_threads": Field("int|null", "BLAS threads in effect"),
    "torch_threads": Field("int|null", "torch threads in effect"),
}


def gflops_field(flops: str, after_timing: bool = False) -> Field:
    """The achieved rate, ``flops`` (the name of the suite's FLOP count) per median second."""
    return Field("float|null", f"{flops} / median (after timing; null when timing was disabled)", after_timing)


def _selects(selector: Mapping[str, tuple], info: dict) -> bool:
    return all(info.get(name) in values for name, values in selector.items())


@dataclass(frozen=True)
class Pairing:
    """Two kinds of case of one suite timed in the same run, whose time ratio is judged.

    ``value = reference median / candidate median``: how many times faster the
    candidate is (the matvec speedup: dense is the reference, factored the candidate).
    A ratio of two timings of one run carries over between machines and runs far
    better than either time, so the gate compares it with a baseline everywhere.
    Rows pair up when their ``match`` columns are equal; ``reference`` and
    ``candidate`` select rows by column values (each a tuple of accepted values).
    """

    metric: str  # the name of the ratio, e.g. "speedup"
    reference: Mapping[str, tuple]
    candidate: Mapping[str, tuple]
    match: tuple[str, ...]
    doc: str

    def value(self, case: dict, reference: dict) -> float | None:
        """How many times faster the candidate ``case`` is than its ``reference`` (benchmark records):
        its paired figure where it was timed beside the reference round by round (``paired_speedup``,
        :mod:`lowrank.record.pairs`), else reference median / case median; None without both medians."""
        info = case.get("extra_info") or {}
        if pairs.is_paired(info):
            return float(info["paired_speedup"])
        mine, theirs = (case.get("stats") or {}).get("median"), (reference.get("stats") or {}).get("median")
        return theirs / mine if mine and theirs else None

    def key(self, info: dict) -> tuple:
        return tuple(info.get(name) for name in self.match)

    def partners(self, cases: Mapping[str, dict]) -> dict[str, str]:
        """``{candidate id: reference id}`` among ``cases`` (benchmark records by id), paired by column."""
        refs = {}
        for case, bench in cases.items():
            info = bench.get("extra_info") or {}
            if _selects(self.reference, info):
                refs.setdefault(self.key(info), case)
        out = {}
        for case, bench in cases.items():
            info = bench.get("extra_info") or {}
            if _selects(self.candidate, info) and self.key(info) in refs:
                out[case] = refs[self.key(info)]
        return out


@dataclass(frozen=True)
class Suite:
    """One benchmark suite: the ``suite`` tag of its results, its record and how its results are judged.

    ``exact`` maps fields that do not depend on speed to how two runs of the same code
    may differ: ``identical`` (counts), ``rtol`` (computed from the model, within the
    gate's ``exact_rtol``) or ``roundoff`` (a floating-point result whose last bits
    depend on the BLAS kernel's summation order: within ``output_error_ulps`` units of
    round-off of the case's dtype). A change beyond that is a correctness regression.
    """

    name: str
    title: str
    benchmark: str  # the benchmark file that writes it
    doc: str  # a paragraph for docs/schema.md
    fields: Record
    params: str  # what pytest-benchmark's ``params`` hold, for the docs
    pairings: tuple[Pairing, ...] = ()
    exact: Mapping[str, str] = field(default_factory=dict)
    timed: bool = True  # the timing engine's fields (schema.TIMING_FIELDS) are part of the record

    def __post_init__(self):
        unknown = {f for f in self.exact if f not in self.fields}
        bad = {k for k in self.exact.values() if k not in EXACT_KINDS}
        if unknown or bad:
            raise ValueError(f"suite {self.name!r}: exact fields {sorted(unknown)} not in its record, "
                             f"or kinds {sorted(bad)} not in {EXACT_KINDS}")

    def record(self) -> dict[str, Field]:
        """Every field of a result of this suite, the timing engine's included when ``timed``."""
        return {**self.fields, **({**TIMING_FIELDS, **COUNT_FIELDS} if self.timed else {})}

    def problems(self, extra: dict) -> tuple[dict, list[str]]:
        """``extra`` with absent after-timing fields as null, and how it departs from the record."""
        record = self.record()
        filled = {**{n: None for n, f in record.items() if f.after_timing and n not in extra}, **extra}
        return filled, field_problems(filled, record)

    def cases(self, run: dict) -> dict[str, dict]:
        """This suite's benchmarks of a parsed result document, by case id (pytest's ``param``)."""
        out = {}
        for bench in run.get("benchmarks", []):
            info = bench.get("extra_info") or {}
            if parse_tag(info.get("schema")) is not None and info.get("suite") == self.name:
                out[bench.get("param") or bench["name"]] = bench
        return out

    def partners(self, cases: Mapping[str, dict]) -> dict[str, tuple[Pairing, str]]:
        """``{candidate id: (pairing, reference id)}`` over every pairing of the suite."""
        out = {}
        for pairing in self.pairings:
            out.update({c: (pairing, r) for c, r in pairing.partners(cases).items()})
        return out
