"""The counting engine: instructions per call under valgrind's callgrind, a metric the machine's noise cannot move.

A counted run (``LOWRANK_BENCH_METRIC=instructions``) runs each backend's worker process
under ``valgrind --tool=callgrind --instr-atstart=no`` (:func:`valgrind_command`): the
interpreter, pytest, numpy and torch start and import under valgrind's core only, about 4x
faster than instrumented (torch's import: 18 s against 76 s here). Around each counted
region, the worker calls two C functions of a helper the driver compiles once
(:func:`build_hooks`, callgrind's own client requests from ``valgrind/callgrind.h``, as
pytest-codspeed's instrument hooks do): ``zero stats, start instrumentation`` before it and
``stop instrumentation, dump stats`` after, so each region's dump holds its instructions
alone. In the worker, :func:`count`:

1. calls the case twice, uncounted (lazy initialisation, allocator, caches);
2. counts one call to size the loop: ``calls`` = enough calls for about
   :data:`TARGET_INSTRUCTIONS` (at least 1, at most :data:`MAX_CALLS`);
3. short calls: runs at least one loop of ``calls`` calls and :data:`WARM_CALLS` calls
   uncounted (CPython specialises its bytecode as it runs), then counts loops of ``calls`` and
   of 2 x ``calls`` calls, interleaved, :data:`REPEATS` times each; instructions per call is the
   difference of their medians over ``calls`` (what a region costs besides its calls cancels);
   long calls (one a loop): :data:`REPEATS_LONG` counts of one call, the sizing one included
   (one: the sizing call is the count). The garbage collector is off in every counted region.
   Set-up, imports and pytest are never counted.

What makes the counts repeatable, and is fixed and recorded by the driver: the library's and
the suite's modules byte-compiled before counting (:func:`compile_sources`; pytest's rewritten
suite modules cached by the native preparing pass), one thread,
``PYTHONHASHSEED=0``, ``PYTHONMALLOC=malloc`` with glibc's thresholds fixed
(:data:`ENVIRONMENT`), the same binaries (versions) and the OpenBLAS kernel that valgrind's
virtual CPU makes OpenBLAS choose (``threadpoolctl``'s ``architecture``). The instructions
glibc's allocator spends inside its internals (:data:`ALLOCATOR_INTERNALS`) are left out of
``instructions`` and recorded beside it (``allocator_instructions``): their cost follows the
heap's history, not the code, and moved torch's small calls by 0.2-0.4% between processes. So are
the lookups keyed by object addresses (:data:`ADDRESS_KEYED`: numpy's dispatch cache, CPython's
type-attribute cache misses; recorded as ``address_keyed_instructions``): their cost follows where the
keys landed in the heap. numpy's draws of the operating system's entropy are fixed
(:func:`fix_entropy`).
What is left: a few instructions per region, which the repeats' median absorbs.

Counts see the instructions this library, numpy, torch and BLAS execute; they do not see
memory bandwidth, cache misses, thread scaling or a GPU (see docs/timing.md).
"""

from __future__ import annotations

import gc
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
from pathlib import Path

from benchmarks.engine import driver, timing

# 2: glibc malloc's internals left out of `instructions` (recorded beside it); 3: numpy's lookups keyed
# by object addresses too (ADDRESS_KEYED); 4: a short call's count is the difference of loops of N and
# 2N calls over N, which cancels what a region costs besides its calls; 5: CPython's type-attribute cache
# misses join ADDRESS_KEYED, and numpy's OS entropy is fixed (fix_entropy)
COUNTING_VERSION = 5
BYTECODE_NOTE = "bytecode.txt"  # in the run's count folder: what compile_sources said, for the record
TARGET_INSTRUCTIONS = 2_000_000
MAX_CALLS = 1000
REPEATS = 5
WARM_CALLS = 64  # uncounted calls of a short case before its counted loops
REPEATS_LONG = 1  # calls of TARGET_INSTRUCTIONS and more: counted once (they agreed to 0.001-0.07% run to run)
# Fixed in every counted worker: each makes the counts depend on the code alone. glibc's malloc
# moves its mmap threshold as memory is freed (a merge's d x k result took another path every
# few calls, 1-2% apart); a threshold that is set stays where it is.
ENVIRONMENT = {"PYTHONHASHSEED": "0", "PYTHONMALLOC": "malloc", "MALLOC_MMAP_THRESHOLD_": "131072",
               "MALLOC_TRIM_THRESHOLD_": "131072", "MALLOC_ARENA_MAX": "1", "OMP_NUM_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# glibc malloc's internal functions (bin search, splitting, consolidation, top-chunk growth): what
# they cost on a call depends on the heap's history, everything the process allocated before the
# case (its environment's and paths' lengths included), not on the code counted. A torch matvec
# counted in three processes whose environments differed by one variable's length: 1,828,268,
# 1,831,814 and 1,829,792 instructions, and 1,756,968, 1,756,968 and 1,757,040 without these.
# malloc, free and their per-thread caches (the fast paths a code change's allocations take) stay in.
ALLOCATOR_INTERNALS = re.compile(r"(_int_malloc|_int_free\w*|_int_memalign|_int_realloc|malloc_consolidate|"
                                 r"unlink_chunk|sysmalloc|systrim|heap_trim|alloc_perturb|free_perturb)"
                                 r"(\.\w+)*(\(.*\))?")
# Lookups keyed by object addresses: numpy's dispatch cache (PyArrayIdentityHash_GetItem, two a
# ufunc call) hashes and compares the DType and ufunc pointers, so its probes and memcmp's bytes
# depend on where those objects landed in the heap. Left out with everything they call (their
# inclusive cost): left in, a few bytes' difference in the environment moved bare-numpy's count by
# tens of instructions a call, and one A/A process by 0.5% (counting engine 2; the A/A figures of
# scripts/measure_counts.py are in results/measurements/counts-aa-*.json).
# CPython's type-attribute cache is keyed by the attribute name's address (3.11's MCACHE_HASH_METHOD):
# which lookups collide and miss into find_name_in_mro (an MRO walk of dict lookups) follows where the
# names landed: in scikit-learn's randomized_svd, half of what a one-byte change of the environment
# moved between two processes was spent there.
# The price: misses that happen whatever the addresses are left out too: names the cache never holds
# (getattr with a name built at run time, C code's PyObject_GetAttrString) and types without a version
# tag walk their MRO on every lookup, about 400 instructions for a class three deep, uncounted; what
# surrounds each lookup (the call, the bytecode, building the name) stays counted.
# _region takes each match's inclusive cost: it assumes a match never calls another match or the
# allocator's internals (true of these two, pure lookups); a dump where one did would subtract twice.
ADDRESS_KEYED = re.compile(r"(PyArrayIdentityHash_GetItem|find_name_in_mro)(\.\w+)*(\(.*\))?")
# numpy seeds every new bit generator from the operating system's entropy first, a seeded RandomState
# too (it then overwrites the state): scikit-learn's randomized_svd(random_state=<int>) spends 1.5 M
# instructions doing so, and how many follows the random words drawn (thousands apart between calls in
# one process). Counted workers draw this fixed value instead, as PYTHONHASHSEED=0 fixes str
# hashing; no seeded generator's numbers change. (np.random's global generator was seeded at import,
# before this: nothing counted here uses it.)
FIXED_ENTROPY = 0x9E3779B97F4A7C15F39CC0605CEDC835
HOOKS_SOURCE = """\
#include <valgrind/callgrind.h>
void lowrank_count_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void lowrank_count_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; CALLGRIND_DUMP_STATS; }
"""
HOOKS_LIBRARY = "hooks.so"


class CountingUnavailable(RuntimeError):
    """valgrind is not installed, or a count was asked for outside callgrind; the message says what to do."""


def valgrind() -> str | None:
    """The valgrind executable, or None."""
    return shutil.which("valgrind")


def valgrind_version() -> str | None:
    exe = valgrind()
    if exe is None:
        return None
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or None


def require_valgrind() -> str:
    exe = valgrind()
    if exe is None:
        raise CountingUnavailable("counting instructions needs valgrind (its callgrind tool): install it, e.g. "
                                  "`apt-get install valgrind` or `brew install valgrind`, or time instead "
                                  "(LOWRANK_BENCH_METRIC=time)")
    return exe


def no_aslr() -> list[str]:
    """``setarch <arch> -R`` where it exists: address-space randomisation off, as CodSpeed's runner does
    (torch's small calls moved by 0.3-0.6% between processes with it on: hashing by address)."""
    exe = shutil.which("setarch")
    return [exe, platform.machine(), "-R"] if exe else []


def compile_sources() -> str:
    """Byte-compile this library's and this suite's modules (natively, before any counted worker), so
    that every counted run imports them from bytecode as it imports numpy's and torch's.

    A module compiled from its source at import and one loaded from its ``.pyc`` do not count the
    same: the overhead suite's bare numpy call came out 0.49% apart (1,380,450 instructions against
    1,373,754 a region) between a tree with no ``__pycache__`` and one with. Returns what the
    record says of it: ``"compiled"``, or why not (a read-only tree: counted from source)."""
    import compileall

    import benchmarks
    import lowrank

    folders = [Path(lowrank.__file__).parent, Path(benchmarks.__file__).parent]
    ok = all(compileall.compile_dir(str(folder), quiet=2, workers=1) for folder in folders)
    return "compiled" if ok else "source (the tree could not be byte-compiled: read-only?)"


def _worker_count_dir() -> str | None:
    """This counted worker's folder of dumps and hooks, from its spec (``benchmarks/engine/driver.py``)."""
    spec = driver.current()
    return spec.count_dir if spec is not None else None


def _bytecode_note() -> str | None:
    folder = _worker_count_dir()
    note = Path(folder) / BYTECODE_NOTE if folder else None
    return note.read_text() if note is not None and note.exists() else None


def valgrind_command(out_dir: Path) -> list[str]:
    """The prefix that runs a worker under callgrind, instrumenting only what :func:`counted` brackets."""
    return [*no_aslr(), require_valgrind(), "-q", "--tool=callgrind", "--instr-atstart=no", "--dump-line=no",
            "--compress-strings=no", f"--callgrind-out-file={Path(out_dir) / 'callgrind.%p'}"]


def build_hooks(out_dir: Path) -> Path:
    """Compile the start/stop helper into ``out_dir`` (a C compiler and valgrind's headers are needed)."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise CountingUnavailable("counting instructions compiles a 3-line helper with callgrind's client requests: "
                                  "install a C compiler (gcc or clang), or time instead (LOWRANK_BENCH_METRIC=time)")
    source, library = Path(out_dir) / "hooks.c", Path(out_dir) / HOOKS_LIBRARY
    source.write_text(HOOKS_SOURCE)
    proc = subprocess.run([cc, "-O1", "-shared", "-fPIC", "-o", str(library), str(source)], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise CountingUnavailable(f"compiling the counting helper failed ({proc.stderr.strip()[:300]}); it needs "
                                  "valgrind's headers (valgrind/callgrind.h: Debian and Ubuntu's valgrind package, "
                                  "Fedora's valgrind-devel)")
    return library


_HOOKS = None


def _hooks(folder: Path):
    global _HOOKS
    if _HOOKS is None:
        import ctypes

        _HOOKS = ctypes.CDLL(str(folder / HOOKS_LIBRARY))
    return _HOOKS


def _dumps(folder: Path) -> list[Path]:
    return [p for p in folder.glob(f"callgrind.{os.getpid()}.*") if p.suffix[1:].isdigit()]


def _region(path: Path) -> tuple[int, int, int]:
    """The instructions (Ir) of one callgrind dump; the part of them spent inside glibc malloc's
    internals (:data:`ALLOCATOR_INTERNALS`, their self cost); and the part spent in lookups keyed by
    object addresses (:data:`ADDRESS_KEYED`, their inclusive cost: their own and their callees')."""
    total, allocator, keyed, function, after_call = None, 0, 0, None, False
    with open(path) as lines:
        for line in lines:
            if line.startswith("fn="):
                # "fn=name", or "fn=(id) name" where callgrind compresses names
                function, after_call = re.sub(r"^\(\d+\)\s*", "", line[3:].strip()), False
            elif line.startswith("calls="):
                after_call = True  # the next cost line is that call's inclusive cost, not the function's own
            elif line.startswith("totals:"):
                total = int(line.split()[1])
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                cost = int(parts[1]) if len(parts) > 1 else 0
                if function is not None and ADDRESS_KEYED.fullmatch(function):
                    keyed += cost  # its own lines and the inclusive cost of what it calls
                    after_call = False
                elif after_call:
                    after_call = False
                elif function is not None and ALLOCATOR_INTERNALS.fullmatch(function):
                    allocator += cost
    if total is None:
        raise CountingUnavailable(f"{path}: a callgrind dump without a 'totals:' line")
    return total, allocator, keyed


def fix_entropy() -> None:
    """Make numpy draw :data:`FIXED_ENTROPY` where it would draw the operating system's entropy (a counted
    worker only): what seeding a bit generator costs then follows the code, not the random words."""
    import numpy.random.bit_generator as bit_generator

    bit_generator.randbits = lambda bits: FIXED_ENTROPY & ((1 << bits) - 1)


def _loop(call, calls: int) -> None:
    for _ in range(calls):
        call()


def _count_folder() -> Path:
    """This counted worker's dump folder; outside one, the error that says how to get one."""
    folder = _worker_count_dir()
    if not folder:
        raise CountingUnavailable("not a counted worker: run the suite with LOWRANK_BENCH_METRIC=instructions")
    return Path(folder)


def counted(call, calls: int = 1) -> tuple[int, int, int]:
    """The instructions of ``calls`` calls of ``call`` outside glibc malloc's internals and the lookups
    keyed by addresses, those inside the allocator's internals, and those in the lookups, read from the
    dump callgrind writes when the region ends."""
    folder = _count_folder()
    hooks = _hooks(folder)
    before = {p.name for p in _dumps(folder)}
    # No cyclic garbage collection inside the region (timeit's rule): when it runs depends on
    # every allocation before, and one collection is thousands of instructions.
    enabled = gc.isenabled()
    gc.disable()
    try:
        hooks.lowrank_count_start()
        _loop(call, calls)
        hooks.lowrank_count_stop()
    finally:
        if enabled:
            gc.enable()
    new = sorted((p for p in _dumps(folder) if p.name not in before), key=lambda p: int(p.suffix[1:]))
    if len(new) != 1:
        raise CountingUnavailable(f"expected one callgrind dump after the counted region, found {len(new)}: is this "
                                  "process running under valgrind with the driver's options?")
    total, allocator, keyed = _region(new[0])
    new[0].unlink()
    return total - allocator - keyed, allocator, keyed


def count(call) -> dict:
    """Instructions per call of ``call`` (see the module's docstring); the record fields it adds."""
    _count_folder()  # refuses before fix_entropy touches numpy in a process that is not counting
    fix_entropy()
    call()
    call()
    single = counted(call, 1)
    calls = max(1, min(MAX_CALLS, math.ceil(TARGET_INSTRUCTIONS / max(sum(single), 1))))
    if calls == 1:
        # A long call (a randomized SVD, a bfloat16 merge: 10^6.5-10^7.5 instructions) is warm after the
        # calls above and counts the same to 0.07% from one run to the next: the sizing region is its
        # count (each region costs seconds under valgrind; three took 40% of a counted run).
        regions = [single, *(counted(call, 1) for _ in range(REPEATS_LONG - 1))]
    else:
        # Short calls: uncounted calls first, at least one loop and WARM_CALLS calls. CPython 3.11
        # specialises its bytecode as it runs: a first counted loop came out up to 1.2% above the
        # later ones, and a LoRA merge of three calls a loop still fell 0.5% over five loops after one.
        # Then loops of `calls` and of 2 x `calls` calls, interleaved; per call is their difference over
        # `calls`: what a region costs besides its calls (the hooks, the loop's start, a few thousand
        # instructions) cancels. Divided by `calls` instead, a process whose sizing call gave another
        # `calls` moved a few-µs call's count by about 0.5%, the gate's whole tolerance.
        _loop(call, max(calls, WARM_CALLS))
        pairs = [(counted(call, calls), counted(call, 2 * calls)) for _ in range(REPEATS)]
        single_loops, double_loops = [p[0] for p in pairs], [p[1] for p in pairs]

        def per_call(i: int) -> float:
            return (statistics.median(r[i] for r in double_loops) - statistics.median(r[i] for r in single_loops)) / calls

        return {"instructions": per_call(0), "instruction_counts": [r[0] for r in single_loops],
                "instruction_counts_doubled": [r[0] for r in double_loops],
                "allocator_instructions": per_call(1), "address_keyed_instructions": per_call(2),
                "count_calls": calls, "counting_engine": COUNTING_VERSION}
    totals = [net for net, _, _ in regions]
    return {"instructions": statistics.median(totals), "instruction_counts": totals,
            "allocator_instructions": statistics.median(a for _, a, _ in regions),
            "address_keyed_instructions": statistics.median(k for _, _, k in regions),
            "count_calls": calls, "counting_engine": COUNTING_VERSION}


def recorded_settings(threads: dict) -> dict:
    """What a counted run's instructions depend on besides the code (the run block's ``counting``), so
    that a comparison of counts made under other settings can say what differs."""
    from threadpoolctl import threadpool_info

    blas = [{"internal_api": p.get("internal_api"), "version": p.get("version"), "architecture": p.get("architecture")}
            for p in threadpool_info() if p.get("user_api") == "blas"]
    return {"engine": COUNTING_VERSION, "valgrind": valgrind_version(), "environment": dict(ENVIRONMENT),
            "hooks": HOOKS_SOURCE, "aslr": "off (setarch -R)" if no_aslr() else "on",
            "entropy": f"numpy's OS entropy fixed at {FIXED_ENTROPY:#x}",
            "bytecode": _bytecode_note(),
            "target_instructions": TARGET_INSTRUCTIONS, "repeats": REPEATS, "repeats_long": REPEATS_LONG,
            "warm_calls": WARM_CALLS,
            "threads": threads, "blas": blas}


class Instructions:
    """The counting instrument: instructions per call under callgrind, in one worker process under valgrind.

    The same interface as :class:`benchmarks.engine.timing.WallClock` (:mod:`benchmarks.engine.instrument`).
    """

    metric = "instructions"
    reads_roofs = False  # no times: no calibration, throughput or plausibility
    measures_quality = False  # under valgrind an error check's SVD takes minutes: counts only
    processes = 1  # counts are the same in every process
    prepares_operands = True  # built natively first (driver.prepare_operands)

    def unavailable(self) -> str | None:
        try:
            require_valgrind()
        except CountingUnavailable as exc:
            return str(exc)
        return None

    @staticmethod
    def leaves_out(item) -> str | None:
        """Why a case is left out of a counted run (its ``not_counted`` marker), or None."""
        marker = item.get_closest_marker("not_counted")
        return None if marker is None else marker.kwargs.get("reason", "not counted")

    def launch(self, workdir: Path) -> tuple[driver.Launch, str]:
        """Build the hooks and byte-compile the sources once; the launch of a counted worker and its dump folder."""
        count_dir = Path(workdir) / "counts"
        count_dir.mkdir(exist_ok=True)
        build_hooks(count_dir)
        (count_dir / BYTECODE_NOTE).write_text(compile_sources())
        # Bytecode is written whatever the caller's environment says (compiled and loaded code count differently).
        env = (*ENVIRONMENT.items(), ("PYTHONDONTWRITEBYTECODE", None))
        return driver.Launch(prefix=tuple(valgrind_command(count_dir)), env=env), str(count_dir)

    def measure(self, benchmark, call, policy) -> dict:
        if benchmark.disabled:
            return timing.measure(benchmark, call, policy)
        record = count(call)
        # pytest-benchmark's own record of the case, from one call under valgrind: its time is no
        # time (the schema says so; readers of a counted run read "instructions").
        benchmark.pedantic(call, rounds=1, iterations=1, warmup_rounds=0)
        return {**record, **timing.empty_record()}

    def measure_pair(self, benchmark, call, partner, policy, partner_plan=None) -> tuple[dict, None]:
        """``call`` counted alone: instructions need no partner to cancel the machine's noise."""
        return {**self.measure(benchmark, call, policy), "partner_call_s": None, "pair_ratios": None}, None

    @staticmethod
    def run_fields(threads: dict) -> dict:
        return {"counting": recorded_settings(threads)} if _worker_count_dir() else {}
