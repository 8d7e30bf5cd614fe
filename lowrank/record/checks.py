"""Range and agreement checks of a result file's records, beyond their JSON types.

:func:`lowrank.record.fields.field_problems` checks that each field has its JSON type;
this module checks what the types cannot say: that a count is a finite number above 0,
that a counted run's records carry their counts and a timed run's none, that a paired
speedup lies inside its own interval. The loader
(:mod:`lowrank.store.load`) runs them when it reads a file, so every command that reads
results sees the same verdict on the same file. Each check returns its problems as
strings that name the field, the value and what is accepted; an empty list means the
record fits. No pandas or numpy here: the record layer is read by the benchmark suite too.
"""

from __future__ import annotations

import json
import math
import statistics

from lowrank.record.schema import METRICS

# The keys of a counted run's ``counting`` block (benchmarks/engine/counting.py, recorded_settings) and the
# JSON types the readers rely on: ``gate`` and ``compare`` compare them to name what differs between two
# counted runs, and walk ``blas`` and ``threads``. Older counting engines wrote fewer keys; none is required.
COUNTING_TYPES = {
    "engine": "int", "valgrind": "str|null", "environment": "dict", "hooks": "str", "aslr": "str", "entropy": "str",
    "bytecode": "str", "target_instructions": "int", "repeats": "int", "repeats_long": "int", "warm_calls": "int",
    "threads": "dict", "blas": "list",
}
# Of those, the settings that are a number of something: at least 1 (warm_calls may be 0).
_COUNTING_MINIMUM = {"engine": 1, "target_instructions": 1, "repeats": 1, "repeats_long": 1, "warm_calls": 0}
_JSON_TYPES = {"int": int, "str": str, "dict": dict, "list": list, "bool": bool, "null": type(None)}
_WORDS = {"int": "an integer", "str": "a string", "dict": "a JSON object", "list": "a list", "bool": "true or false",
          "null": "null"}

# A paired speedup is recomputed exactly by every writer from the stored ratios (or, before timing engine 4,
# the process medians); JSON keeps doubles exact, so more than this relative difference is a changed field.
_AGREEMENT_RTOL = 1e-9


def is_number(value) -> bool:
    """A finite JSON number (``true``/``false`` are not numbers here, though Python counts them as ints)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer past a double's range (JSON has no bound on digits)
        return False


def is_positive(value) -> bool:
    """A finite JSON number above 0."""
    return is_number(value) and value > 0


def _is_whole(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _type_ok(value, spec: str) -> bool:
    parts = spec.split("|")
    if isinstance(value, bool):
        return "bool" in parts
    return any(isinstance(value, _JSON_TYPES[p]) for p in parts)


def _words(spec: str) -> str:
    return " or ".join(_WORDS[p] for p in spec.split("|"))


def run_block_problems(block: dict) -> list[str]:
    """How a run's ``machine_info['lowrank_bench']`` block departs from the schema: a field of the wrong
    type (``RUN_FIELDS``; absent or null fields read as defaults), a ``metric`` other than ``time`` or
    ``instructions``, a ``counting`` block whose settings have the wrong type or range."""
    from lowrank.record.schema import RUN_FIELDS

    where = "machine_info.lowrank_bench"
    problems = []
    for name, spec in RUN_FIELDS.items():
        value = block.get(name)
        if value is None:
            continue
        if not _type_ok(value, spec.type):  # null reads as absent
            problems.append(f"{where}.{name} = {_short(value)}; accepted: {_words(spec.type)}")
    metric = block.get("metric")
    if metric is not None and metric not in METRICS:
        problems.append(f"{where}.metric = {_short(metric)}; accepted: {', '.join(map(repr, METRICS))}")
    counting = block.get("counting")
    if isinstance(counting, dict):
        problems += counting_problems(counting, f"{where}.counting")
    return problems


def counting_problems(counting: dict, where: str = "counting") -> list[str]:
    """How a counted run's ``counting`` block departs from :data:`COUNTING_TYPES` (types, and the counts
    of repeats and instructions at least 1)."""
    problems = []
    for name, spec in COUNTING_TYPES.items():
        if name not in counting:
            continue
        value = counting[name]
        if not _type_ok(value, spec):
            problems.append(f"{where}.{name} = {_short(value)}; accepted: {_words(spec)}")
        elif name in _COUNTING_MINIMUM and not _is_whole(value, _COUNTING_MINIMUM[name]):
            problems.append(f"{where}.{name} = {_short(value)}; accepted: an integer >= {_COUNTING_MINIMUM[name]}")
    blas = counting.get("blas")
    if isinstance(blas, list) and not all(isinstance(x, dict) for x in blas):
        problems.append(f"{where}.blas = {_short(blas)}; accepted: a list of JSON objects (one per BLAS library)")
    return problems


# -- one benchmark's record --------------------------------------------------------------------------
def count_problems(extra: dict, metric: str) -> list[str]:
    """How the count fields of one record (``schema.COUNT_FIELDS``) depart from a run of ``metric``.

    A counted run's every record carries ``instructions``, a finite number > 0 (per call: a
    difference of two medians over ``count_calls``, so not always whole); each repeat's count in
    ``instruction_counts`` and ``instruction_counts_doubled`` is an integer > 0; ``count_calls``
    and ``counting_engine`` are integers >= 1; the instructions left out of the count
    (``allocator_instructions``, ``address_keyed_instructions``) are finite numbers. A timed run
    carries no count: one there means the file's metric was changed, and its valgrind times would
    be read as times.
    """
    value = extra.get("instructions")
    if metric != "instructions":
        if value is not None:
            return [f"extra_info.instructions = {_short(value)} in a run whose metric is {metric!r}; a counted run "
                    "says so in machine_info.lowrank_bench.metric = 'instructions' (its stats are one call under "
                    "valgrind, not times)"]
        return []
    problems = []
    if not is_positive(value):
        problems.append(f"extra_info.instructions = {_short(value)}; accepted in a counted run: a finite number of "
                        "instructions per call > 0")
    for name in ("instruction_counts", "instruction_counts_doubled"):
        counts = extra.get(name)
        if counts is None:
            continue
        if not isinstance(counts, list) or not counts:
            problems.append(f"extra_info.{name} = {_short(counts)}; accepted: a non-empty list of instruction counts "
                            "(integers > 0), or null")
            continue
        for j, c in enumerate(counts):
            if not _is_whole(c, 1):
                problems.append(f"extra_info.{name}[{j}] = {_short(c)}; accepted: an instruction count, an integer > 0")
                break
    for name in ("count_calls", "counting_engine"):
        v = extra.get(name)
        if v is not None and not _is_whole(v, 1):
            problems.append(f"extra_info.{name} = {_short(v)}; accepted: an integer >= 1, or null")
    for name in ("allocator_instructions", "address_keyed_instructions"):
        v = extra.get(name)
        if v is not None and not is_number(v):
            problems.append(f"extra_info.{name} = {_short(v)}; accepted: a finite number of instructions, or null")
    return problems


def paired_problems(extra: dict) -> list[str]:
    """How a paired speedup's fields (:mod:`lowrank.record.pairs`) disagree with each other.

    ``paired_speedup``, ``paired_speedup_lo`` and ``paired_speedup_hi`` are all null or all
    finite numbers > 0, with ``lo <= paired_speedup <= hi``; ``process_speedups`` are finite
    numbers > 0 whose geometric mean is ``paired_speedup``; each process's
    ``process_pair_ratios`` are finite numbers > 0, one list per process speedup.
    """
    names = ("paired_speedup", "paired_speedup_lo", "paired_speedup_hi")
    values = [extra.get(n) for n in names]
    problems = []
    for name, value in zip(names, values):
        if value is not None and not is_positive(value):
            problems.append(f"extra_info.{name} = {_short(value)}; accepted: a finite speedup > 0, or null")
    if problems:
        return problems
    point, lo, hi = values
    if any(v is None for v in values):
        if any(v is not None for v in values):
            given = ", ".join(f"{n} = {_short(v)}" for n, v in zip(names, values))
            problems.append(f"{given}: accepted: all three numbers (the speedup and its interval) or all null")
        return problems
    if lo > hi:
        problems.append(f"extra_info.paired_speedup_lo = {lo!r} is above paired_speedup_hi = {hi!r}; accepted: an "
                        "interval whose low end is at most its high end")
    elif not lo <= point <= hi:
        problems.append(f"extra_info.paired_speedup = {point!r} is outside its own interval [{lo!r}, {hi!r}] "
                        "(paired_speedup_lo, paired_speedup_hi); accepted: an estimate inside its interval")
    speedups = extra.get("process_speedups")
    if speedups is not None:
        if not isinstance(speedups, list) or not speedups or not all(is_positive(s) for s in speedups):
            problems.append(f"extra_info.process_speedups = {_short(speedups)}; accepted: a non-empty list of finite "
                            "speedups > 0, or null")
    ratios = extra.get("process_pair_ratios")
    ratios_ok = isinstance(ratios, list) and all(isinstance(r, list) and r and all(is_positive(x) for x in r)
                                                 for r in ratios)
    if ratios is not None:
        if not ratios_ok:
            problems.append(f"extra_info.process_pair_ratios = {_short(ratios)}; accepted: one non-empty list of "
                            "finite ratios > 0 per process, or null")
        elif isinstance(speedups, list) and len(speedups) != len(ratios):
            problems.append(f"extra_info.process_pair_ratios holds {len(ratios)} process(es) and process_speedups "
                            f"{len(speedups)}; accepted: one speedup per process")
    if isinstance(speedups, list) and speedups and all(is_positive(s) for s in speedups) and not problems:
        # Today's rule: the median of every process's ratios, pooled; files before timing engine 4 kept the
        # geometric mean of the process medians. Either figure, as its file's engine computed it, is accepted.
        rules = [math.exp(sum(math.log(s) for s in speedups) / len(speedups))]
        if ratios_ok:
            rules.append(statistics.median(x for r in ratios for x in r))
        if all(abs(rule - point) > _AGREEMENT_RTOL * point for rule in rules):
            problems.append(f"extra_info.paired_speedup = {point!r} is neither the median of its process_pair_ratios "
                            f"pooled nor the geometric mean of its process_speedups ({', '.join(f'{r:.6g}' for r in rules)});"
                            " accepted: the figure the suite computes from them")
    return problems


def record_problems(extra: dict, metric: str) -> list[str]:
    """Every range and agreement problem of one benchmark's ``extra_info`` in a run of ``metric``."""
    return count_problems(extra, metric) + paired_problems(extra)


def _short(value, limit: int = 60) -> str:
    """A value as its file spells it (``null``, ``true``, ``NaN``, ``"12"``), cut for a one-line message."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
