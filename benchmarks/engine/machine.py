"""What a run needs to know about the machine: threads, caches, versions, calibration.

Calibration measures, once per run, the two roofs every result is read against:
memory bandwidth (STREAM-style copy and add over buffers far larger than the
last-level cache) and each backend's matmul GFLOP/s per dtype.
"""

from __future__ import annotations

import hashlib
import os
import platform
import time

import numpy as np

import lowrank
from lowrank.backends import get_backend

DEFAULT_LLC_BYTES = 32 * 2**20


# -- threads -----------------------------------------------------------------------------------
def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under taskset or a container quota)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_threads(cores: int | None = None) -> int:
    """The default thread count: every usable core but one, and at least one.

    One core is left to the OS, the timing thread and whatever else the machine runs:
    on this project's 2-vCPU VM, two threads on two cores left 33% of cases moving by
    more than 25% between runs and produced stalls of 16 ms scheduler slices, while one
    thread gave stable, plausible figures (README, "Threads"). torch.utils.benchmark
    defaults to one thread for the same reason.
    """
    cores = usable_cores() if cores is None else cores
    return max(1, cores - 1)


def max_threads() -> int:
    """The most threads a run may ask for: the machine's CPU count.

    More threads than CPUs only time-slice the same cores, which no timing here should measure,
    and a BLAS pool asked for far more threads than it was built for crashes the process
    (``LOWRANK_BENCH_THREADS=100000`` was a segmentation fault at the end of ``--collect-only``).
    """
    return os.cpu_count() or 1


def requested_threads(env) -> int:
    """Threads for BLAS and torch: ``LOWRANK_BENCH_THREADS``, else :func:`default_threads`.

    One number for both numpy's BLAS and torch makes their timings comparable.
    """
    value = env.get("LOWRANK_BENCH_THREADS")
    if value is None or value == "":
        return default_threads()
    cap = max_threads()
    # isdecimal, not isdigit: "²" is a digit that int() refuses.
    if not value.isdecimal() or not 1 <= int(value) <= cap:
        raise ValueError(f"LOWRANK_BENCH_THREADS={value!r}: expected a positive integer up to {cap} "
                         "(this machine's CPU count)")
    return int(value)


def memory_bytes() -> int | None:
    """The machine's physical memory in bytes, None where the platform does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


class ThreadPin:
    """Pin BLAS (threadpoolctl) and torch intra-op threads to ``n``; :meth:`release` restores them."""

    def __init__(self, n: int, use_torch: bool):
        import importlib.util

        from threadpoolctl import threadpool_limits

        # threadpoolctl limits the libraries loaded when it is called: scipy ships its own OpenBLAS, loaded
        # by the first scipy.linalg call (scikit-learn's randomized_svd, a peer of the factorization suite),
        # which would otherwise run with every core's threads.
        if importlib.util.find_spec("scipy") is not None:
            import scipy.linalg  # noqa: F401
        self.n = n
        self._limits = threadpool_limits(limits=n, user_api="blas")
        self._torch_before = None
        if use_torch:
            import torch

            self._torch_before = torch.get_num_threads()
            torch.set_num_threads(n)

    def info(self) -> dict:
        """Thread counts in effect now, as recorded with the run."""
        from threadpoolctl import threadpool_info

        blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        return {
            "requested": self.n,
            "blas": min((p["num_threads"] for p in blas), default=None),
            "blas_libraries": [
                {k: p.get(k) for k in ("internal_api", "version", "num_threads", "architecture", "prefix")} for p in blas
            ],
            "torch": _torch_threads(),
        }

    def release(self) -> None:
        self._limits.restore_original_limits()
        if self._torch_before is not None:
            import torch

            torch.set_num_threads(self._torch_before)


def _torch_threads() -> int | None:
    import sys

    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


# -- caches and identity ------------------------------------------------------------------------
def cpu_cache_bytes() -> dict[str, int]:
    """Data/unified cache sizes of cpu0 by level, e.g. ``{"L1": 65536, "L2": 1048576, "L3": 33554432}``.

    Read from sysfs (Linux); an empty dict where it is not available.
    """
    out: dict[str, int] = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = os.listdir(base)
    except OSError:
        return out
    for entry in entries:
        try:
            kind = open(os.path.join(base, entry, "type")).read().strip()
            level = open(os.path.join(base, entry, "level")).read().strip()
            text = open(os.path.join(base, entry, "size")).read().strip()
        except OSError:
            continue
        if kind == "Instruction":
            continue
        mult = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        out[f"L{level}"] = int(text.rstrip("KMG")) * mult
    return out


def last_level_cache_bytes(backend: str) -> int:
    """Size of the last-level cache that ``backend``'s operands pass through (L3 on CPU, L2 on GPU)."""
    if backend == "torch-cuda":
        import torch

        return int(getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 50 * 2**20))
    # The largest data cache (an instruction cache is never the last level).
    return max(cpu_cache_bytes().values(), default=DEFAULT_LLC_BYTES)


def versions() -> dict:
    """Library versions recorded with every run (torch only if this run loaded it)."""
    import sys

    import pytest_benchmark

    out = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "lowrank": lowrank.__version__,
        "pytest_benchmark": pytest_benchmark.__version__,
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = torch.__version__
        out["cuda"] = torch.version.cuda
    return out


def devices(backends) -> dict:
    """Device name per backend in this run."""
    return {name: get_backend(name).device_name() for name in backends}


def fingerprint(machine_info: dict, device_names: dict) -> str:
    """A short hash of the hardware (CPU model, cores, arch, GPUs), not of the host name.

    Two CI runners of the same type share a fingerprint, so absolute times are
    comparable between them; a laptop and a server do not.
    """
    cpu = machine_info.get("cpu", {}) or {}
    parts = [
        str(cpu.get("brand_raw", machine_info.get("processor", ""))),
        str(cpu.get("count", os.cpu_count())),
        str(machine_info.get("machine", platform.machine())),
        ",".join(sorted(v for k, v in device_names.items() if k == "torch-cuda")),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


# -- calibration ----------------------------------------------------------------------------------
def _best_seconds(fn, repeats: int, sync=lambda: None, min_block_s: float = 1e-3) -> float:
    """Fastest time of one ``fn()`` call: best of ``repeats`` blocks, each looped to >= ``min_block_s``.

    Looping short calls keeps the timer's and Python's overhead out of a cache-level
    bandwidth; the best block is the roof (a stall only ever makes a block slower).
    """
    fn()
    sync()
    start = time.perf_counter()
    fn()
    sync()
    loops = max(1, int(min_block_s / max(time.perf_counter() - start, 1e-9)))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        sync()
        best = min(best, (time.perf_counter() - start) / loops)
    return best


def memory_bandwidth(backend: str, buffer_bytes: int, repeats: int = 5) -> dict:
    """STREAM-style copy (2 arrays) and add (3 arrays), and a read-only dot (2 arrays), in GB/s.

    Best of ``repeats``; buffers of ``buffer_bytes`` each. Pass several times the
    last-level cache so the traffic goes to DRAM (HBM on a GPU), or a fraction of a
    cache level for that level's roof. Bytes counted as STREAM does: copy moves 2×,
    add 3× the buffer size (no write-allocate traffic); dot reads 2×. The dot is what a
    matrix-vector product does (read-only streams), which caches serve faster than copies.
    """
    be = get_backend(backend)
    n = max(1, buffer_bytes // 8)
    a = be.asarray(np.ones(n), "float64")
    b = be.asarray(np.full(n, 2.0), "float64")
    c = be.zeros((n,), "float64")
    if backend == "numpy":
        copy = lambda: np.copyto(c, a)  # noqa: E731
        add = lambda: np.add(a, b, out=c)  # noqa: E731
        dot = lambda: np.dot(a, b)  # noqa: E731
    else:
        torch = be.torch
        copy = lambda: c.copy_(a)  # noqa: E731
        add = lambda: torch.add(a, b, out=c)  # noqa: E731
        dot = lambda: torch.dot(a, b)  # noqa: E731
    t_copy = _best_seconds(copy, repeats, be.synchronize)
    t_add = _best_seconds(add, repeats, be.synchronize)
    t_dot = _best_seconds(dot, repeats, be.synchronize)
    nbytes = n * 8
    return {"copy_gbps": 2 * nbytes / t_copy / 1e9, "add_gbps": 3 * nbytes / t_add / 1e9,
            "dot_gbps": 2 * nbytes / t_dot / 1e9, "buffer_bytes": nbytes}


def peak_gflops(backend: str, dtype: str, size: int, repeats: int = 3) -> float:
    """Best matmul rate in GFLOP/s for square ``size`` operands: the compute roof."""
    be = get_backend(backend)
    rng = np.random.default_rng(0)
    x = be.asarray(rng.standard_normal((size, size)), dtype)
    y = be.asarray(rng.standard_normal((size, size)), dtype)
    seconds = _best_seconds(lambda: x @ y, repeats, be.synchronize)
    return 2 * size**3 / seconds / 1e9


def cache_levels(backend: str) -> dict[str, int]:
    """The cache levels whose bandwidth is calibrated for ``backend``, with their sizes in bytes."""
    if backend == "torch-cuda":
        return {"L2": last_level_cache_bytes(backend)}
    sizes = cpu_cache_bytes()
    return {level: sizes[level] for level in ("L2", "L3") if level in sizes}


def level_bandwidths(backend: str, repeats: int = 5) -> dict[str, float]:
    """Bandwidth roof (GB/s, best of STREAM copy, add and a read-only dot) per cache level.

    Three buffers of a quarter of the level each (a third of it for L3, which other cores
    share), so the whole ``add`` working set stays in that level.
    """
    out = {}
    for level, size in cache_levels(backend).items():
        per_buffer = size // 4 if level == "L2" else size // 8
        bw = memory_bandwidth(backend, per_buffer, repeats)
        out[level] = max(bw["copy_gbps"], bw["add_gbps"], bw["dot_gbps"])
    return out


def calibrate(backend_dtypes: dict[str, tuple[str, ...]], matmul_size: int, log=print) -> dict:
    """Bandwidth per memory (CPU DRAM, GPU HBM) and cache level, and peak GFLOP/s per backend and dtype."""
    memory, peaks, llc, levels = {}, {}, {}, {}
    for backend, dtypes in backend_dtypes.items():
        mem = "cuda" if backend == "torch-cuda" else "cpu"
        llc[backend] = last_level_cache_bytes(backend)
        if mem not in memory:
            # 8x the last-level cache per buffer, at least 64 MiB: DRAM traffic, not cache hits.
            memory[mem] = memory_bandwidth(backend, max(8 * llc[backend], 64 * 2**20))
            levels[mem] = level_bandwidths(backend)
            log(f"[calibrate] {mem} memory: copy {memory[mem]['copy_gbps']:.1f} GB/s, add {memory[mem]['add_gbps']:.1f} GB/s, "
                f"dot {memory[mem]['dot_gbps']:.1f} GB/s"
                + "".join(f"; {lv} {gbps:.0f} GB/s" for lv, gbps in levels[mem].items()))
        size = 4 * matmul_size if backend == "torch-cuda" else matmul_size
        peaks[backend] = {dt: peak_gflops(backend, dt, size) for dt in dtypes}
        log(f"[calibrate] {backend} matmul {size}^2: " + ", ".join(f"{dt} {v:.1f} GFLOP/s" for dt, v in peaks[backend].items()))
    return {"memory": memory, "levels": levels, "cache_bytes": {m: _level_sizes(m) for m in levels},
            "peak_gflops": peaks, "llc_bytes": llc, "matmul_size": matmul_size}


def _level_sizes(mem: str) -> dict[str, int]:
    return cache_levels("torch-cuda" if mem == "cuda" else "numpy")
