#!/usr/bin/env python
"""The day's noise: two single-thread calls timed in alternating half-second blocks for 30 seconds.

* a 1024x1024 float32 ``W @ x`` (55-170 us on this VM, by the day; its operands in cache): the
  probe every figure in the docs quotes;
* a rank-4 ``B @ (A @ x)`` of 4096x4096 float64 (a few us), B held column-major and multiplied
  as :class:`lowrank.LowRankOperator` holds and multiplies it (``Backend.factored_product``,
  without the operator's checks): the kind of call
  whose speedups moved most between two runs. ``--row-major-b`` times it as the library did
  before (B row-major, ``@``), whose matrix-vector kernel for a tall, thin B has a slow mode
  (blocks at 1.5x the fastest or more) that the column-major layout does not show as often:
  docs/machine.md has both figures.

Quote its lines beside any measured figure: on a shared VM the same loop moves by tens of
percent from one hour to the next, and a figure means little without it.

    python scripts/noise_probe.py             # 30 s
    python scripts/noise_probe.py --seconds 10
    python scripts/noise_probe.py --alternate-cpus --seconds 60

``--alternate-cpus`` moves the probe to the next usable CPU (its own affinity) before each pair
of blocks and adds a line per CPU for the small call: whether its slow mode belongs to one vCPU,
which pinning the workers would then avoid.

Prints, per call, the blocks' medians (min, median, max), the spread max/min, and the share of
blocks within 5% of the median of all blocks; for the small call also the share of blocks in
its slow mode (at least 1.5x its fastest block: a probe spent wholly in one mode says 0%, and its
min says which mode). Each call gets half the time: the blocks are half as many as the probe's
before 2026-12-06 (60 in 30 s), so its old "within 5%" shares rest on twice the blocks.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

# One thread, set before numpy loads its BLAS.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import lowrank  # noqa: E402

BLOCK_S = 0.5  # one block: the median of the calls made in half a second
SLOW_MODE = 1.5  # a block at least this much slower than the fastest one is in the slow mode


def _block(call) -> float:
    calls, stop = [], time.perf_counter() + BLOCK_S
    while time.perf_counter() < stop:
        t0 = time.perf_counter()
        call()
        calls.append(time.perf_counter() - t0)
    return statistics.median(calls)


def _line(label: str, blocks: list[float], probe_s: float) -> str:
    """One call's line: its blocks (half of the probe's time) summarised."""
    mid = statistics.median(blocks)
    within = sum(abs(b / mid - 1) <= 0.05 for b in blocks) / len(blocks)
    return (f"noise probe: {label}, 1 thread, {probe_s / 2:.0f} s of the probe's {probe_s:.0f}, {len(blocks)} "
            f"blocks: medians {min(blocks) * 1e6:.1f} / {mid * 1e6:.1f} / {max(blocks) * 1e6:.1f} us "
            f"(min / median / max), spread {max(blocks) / min(blocks):.2f}x, {within:.0%} of blocks within 5% "
            "of the median")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to probe (default 30)")
    parser.add_argument("--row-major-b", action="store_true",
                        help="time the small call with B row-major and @ (the library's layout before it chose one)")
    parser.add_argument("--alternate-cpus", action="store_true",
                        help="move to the next usable CPU before each pair of blocks; a line per CPU")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 3600:
        parser.error(f"--seconds {args.seconds}: accepted 1 to 3600")
    # CPU affinity is Linux's (os.sched_getaffinity): the plain probe does not need it.
    usable = sorted(os.sched_getaffinity(0)) if args.alternate_cpus else []
    if args.alternate_cpus and len(usable) < 2:
        parser.error(f"--alternate-cpus: this process may run on {len(usable)} CPU ({usable}); it needs 2 or more")
    cpus = usable
    rng = np.random.default_rng(0)
    w = rng.standard_normal((1024, 1024), dtype=np.float32)
    x = rng.standard_normal(1024, dtype=np.float32)
    a, b, x_small = rng.standard_normal((4, 4096)), rng.standard_normal((4096, 4)), rng.standard_normal(4096)
    if args.row_major_b:
        def small_call():
            return b @ (a @ x_small)
    else:
        op = lowrank.LowRankOperator(b, a)
        b, a = op.B, op.A
        product = lowrank.get_backend("numpy").factored_product

        def small_call():
            return product(b, a, x_small)
    probe, small, on_cpu = [], [], []
    end = time.perf_counter() + args.seconds
    try:
        while time.perf_counter() < end:
            if cpus:
                on_cpu.append(cpus[len(small) % len(cpus)])
                os.sched_setaffinity(0, {on_cpu[-1]})
            probe.append(_block(lambda: w @ x))
            small.append(_block(small_call))
    finally:
        if cpus:
            os.sched_setaffinity(0, usable)
    print(_line("1024x1024 float32 W@x", probe, args.seconds))
    fastest = min(small)
    slow = sum(s >= SLOW_MODE * fastest for s in small) / len(small)
    layout = "B row-major, @" if args.row_major_b else "B column-major, the library's product"
    print(_line(f"4096x4096 float64 rank-4 B@(A@x) ({layout})", small, args.seconds)
          + f"; {slow:.0%} of blocks in the slow mode (>= {SLOW_MODE}x the fastest)")
    for cpu in cpus:
        mine = [s for s, c in zip(small, on_cpu) if c == cpu]
        if mine:
            share = sum(s >= SLOW_MODE * fastest for s in mine) / len(mine)
            print(f"noise probe: rank-4 B@(A@x) on CPU {cpu}: {len(mine)} blocks, fastest {min(mine) * 1e6:.1f} us, "
                  f"{share:.0%} in the slow mode (>= {SLOW_MODE}x the fastest block on any CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
