"""The result schema shared by the benchmark suite (writer) and the analysis (reader).

Each benchmark of this suite stores, in pytest-benchmark's ``extra_info``, a
``schema`` field ``"lowrank-bench/<version>"`` plus the fields below; each run
stores a ``lowrank_bench`` block in ``machine_info``. The human-readable version
of this contract, ``docs/schema.md``, is generated from it and from the
suites' records (``lowrank/record/suites/``) by ``lowrank-bench schema``; bump
:data:`SCHEMA_VERSION` on any incompatible change.
"""

from __future__ import annotations

from lowrank.errors import LowRankValueError
from lowrank.record.fields import Field

SCHEMA_NAME = "lowrank-bench"
SCHEMA_VERSION = 2
SCHEMA_TAG = f"{SCHEMA_NAME}/{SCHEMA_VERSION}"
# Versions this code still reads. Version 2 added the timing engine's fields (TIMING_FIELDS),
# the plausibility ``flag`` and the run's completeness; version-1 files read with those as null.
READABLE_VERSIONS = (1, 2)

# extra_info fields the timing engine (benchmarks/engine/timing.py, benchmarks/engine/driver.py) adds to every
# timed benchmark (Suite.timed); null when timing was disabled, absent in version-1 files.
TIMING_FIELDS: dict[str, Field] = {
    "timing_engine": Field("int|null", "version of the engine", True),
    "warmup_calls": Field("int|null", "untimed calls before the rounds (for the policy's `warmup_s`, at least one; 0: "
                          "no warm-up), in the first process", True),
    "first_call_s": Field("float|null", "the very first call, seconds (null without warm-up)", True),
    "call_s": Field("float|null", "the fastest warm-up call, seconds, which sizes the loop (a paired case: its own side; "
                    "without warm-up, the fastest round; before `partner_call_s` existed, the longer of its two sides)",
                    True),
    "stall_rounds": Field("int|null", "rounds slower than 1.5× the median, in the first process", True),
    "settled": Field("bool|null", "the median is within 1.5× of the fastest round", True),
    "processes": Field("int|null", "worker processes that timed this case, every one pooled in `stats`", True),
    "process_medians": Field("list|null", "the median of each process, seconds, in process order", True),
    "process_spread": Field("float|null", "(max − min) / median of `process_medians`: how far separate processes "
                            "land; null for one", True),
    "reported_pass": Field("int|null", "null: `stats` pool every process's rounds (files before timing engine 4: the "
                           "pass whose samples are in `stats`, the one with the lowest median)", True),
}

# extra_info fields of a counted run (LOWRANK_BENCH_METRIC=instructions; benchmarks/engine/counting.py), in
# every timed suite's record; absent (read as null) in a timed run. A counted run's `stats` come from one
# call under valgrind: they are not times.
COUNT_FIELDS: dict[str, Field] = {
    "instructions": Field("float|null", "instructions per call (callgrind's Ir): for a short call (`count_calls` > 1) "
                          "the difference of the median loops of 2 x `count_calls` and of `count_calls` calls, over "
                          "`count_calls` (engine 4 on; before, the median loop over `count_calls`); for a long call "
                          "its one counted call; glibc malloc's internals left out (engine 2 on) and numpy's lookups "
                          "keyed by object addresses (engine 3 on), with CPython's type-attribute cache misses and "
                          "numpy's OS entropy fixed (engine 5 on); set-up, imports and pytest are never counted", True),
    "instruction_counts": Field("list|null", "each repeat's instructions for `count_calls` calls, as `instructions` "
                                "counts them", True),
    "instruction_counts_doubled": Field("list|null", "each repeat's instructions for 2 x `count_calls` calls (short "
                                        "calls, engine 4 on)", True),
    "allocator_instructions": Field("float|null", "instructions per call inside glibc malloc's internals (bin search, "
                                    "consolidation), left out of `instructions`: they follow the heap's history, not "
                                    "the code", True),
    "address_keyed_instructions": Field("float|null", "instructions per call inside lookups keyed by object "
                                        "addresses (numpy's `PyArrayIdentityHash_GetItem`, engine 3 on; CPython's "
                                        "type-attribute cache misses, `find_name_in_mro`, engine 5 on; with what they "
                                        "call), left out of `instructions`: they follow where the keys landed in the "
                                        "heap, not the code", True),
    "count_calls": Field("int|null", "calls per counted repeat (about 2 million instructions' worth)", True),
    "counting_engine": Field("int|null", "version of the counting engine", True),
}

# The run's own block, machine_info["lowrank_bench"] (benchmarks/harness/plugin.py writes it).
RUN_FIELDS: dict[str, Field] = {
    "schema": Field("str", '`"lowrank-bench/<version>"`'),
    "profile": Field("str", "`quick`, `default` or `full`"),
    "complete": Field("bool", "false when the run was interrupted (Ctrl-C, `-x`) or a worker failed: the file holds "
                      "only the cases done; report and gate say so"),
    "cases_planned": Field("int", "cases collected"),
    "cases_finished": Field("int", "cases written"),
    "processes": Field("int", "worker processes per backend, each timing every case (`LOWRANK_BENCH_PROCESSES`, "
                       "default 3; an older file with 1 may have been timed in the pytest process itself)"),
    "timing": Field("dict", "the timing policy (docs/timing.md): `warmup_s`, `round_s`, `budget_s`, `min_rounds`, "
                    "`max_rounds`, `engine`, `processes`; files before timing engine 4 also hold `long_call_s`, "
                    "`min_rounds_long`, `very_long_call_s`, `settle_s` and `short_pair_processes` (processes that timed "
                    "the warm pairs of short calls)"),
    "flagged": Field("int", "results flagged physically implausible"),
    "threads": Field("dict", "`requested`, `blas` (threadpoolctl limit in effect), `torch` "
                     "(`torch.get_num_threads()`), `blas_libraries`"),
    "versions": Field("dict", "`python`, `numpy`, `torch`, `cuda`, `lowrank`, `pytest_benchmark`"),
    "devices": Field("dict", "backend → device name (CPU model or GPU name)"),
    "calibration": Field("dict", "`memory.cpu` / `memory.cuda`: `copy_gbps`, `add_gbps`, `dot_gbps` (STREAM-style "
                         "copy and add, read-only dot; buffers ≥ 8× the last-level cache); `levels.cpu` / "
                         "`levels.cuda`: the same roof with buffers inside `L2` / `L3` (GB/s); `cache_bytes`: their "
                         "sizes; `peak_gflops[backend][dtype]` (square matmul); `llc_bytes[backend]`; `matmul_size`. Each "
                         "roof (`memory`, `levels`, `peak_gflops`) is read once, before the workers start (files of "
                         "timing engine 3 kept the higher of two readings, both in `readings`)"),
    "metric": Field("str", "`time`, or `instructions` for a counted run (`LOWRANK_BENCH_METRIC`); absent before "
                    "counts existed: time"),
    "counting": Field("dict", "a counted run only: `valgrind` (version), `environment` (PYTHONHASHSEED, "
                      "PYTHONMALLOC, thread variables), `threads`, `blas` (the kernel `architecture` valgrind's CPU "
                      "made each BLAS choose), `engine`, `hooks` (the client requests around each counted region), `aslr` (off under `setarch -R`), `entropy` (the fixed value numpy draws for new bit generators, engine 5 on), `repeats`, `target_instructions`"),
    "fingerprint": Field("str", "hash of CPU model, core count, architecture and GPU names — not the host name; runs "
                         "with equal fingerprints may compare absolute times"),
}


# What a run's cases measure (the run block's `metric`): times, or instructions per call (a counted run).
METRICS = ("time", "instructions")


def run_metric(block: dict | None) -> str:
    """What a run's cases measured, from its ``lowrank_bench`` block: ``"time"``, or ``"instructions"``
    for a counted run (files from before counts existed: time)."""
    return str((block or {}).get("metric") or "time")


def same_metric(named, purpose: str) -> str:
    """The one metric of ``named`` (``(name, metric)`` pairs: a file, "the baseline"); raises
    :class:`~lowrank.errors.LowRankValueError` naming each input's metric when they differ.

    A counted run's ``stats`` are one call under valgrind: pooled, compared or tabled with a
    timed run's they would read as times. ``purpose`` says what the command does with its
    inputs, e.g. ``"a baseline pools runs of one metric"``.

    >>> same_metric([("a.json", "time"), ("b.json", "time")], "compare")
    'time'
    """
    named = [(str(name), metric) for name, metric in named]
    by_metric: dict[str, list[str]] = {}
    for name, metric in named:
        by_metric.setdefault(metric, []).append(name)
    if len(by_metric) <= 1:
        return next(iter(by_metric), "time")
    # "a.json, b.json measured time and c.json instructions": every input named with its metric
    parts = [(", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else ""), metric)
             for metric, names in by_metric.items()]
    said = " and ".join([f"{parts[0][0]} measured {parts[0][1]}"] + [f"{shown} {metric}" for shown, metric in parts[1:]])
    raise LowRankValueError(f"{said}: {purpose} (a counted run's stats are one call under valgrind, not times)")


def parse_tag(tag) -> int | None:
    """The schema version in ``"lowrank-bench/<n>"``, or None when the tag is not this suite's."""
    if not isinstance(tag, str) or not tag.startswith(SCHEMA_NAME + "/"):
        return None
    try:
        return int(tag.split("/", 1)[1])
    except ValueError:
        return None
