#!/usr/bin/env python
"""The day's noise: a single-thread 1024x1024 float32 ``W @ x`` timed in blocks for 30 seconds.

Quote its line beside any measured figure: on a shared VM the same loop moves by tens of
percent from one hour to the next, and a figure means little without it.

    python scripts/noise_probe.py             # 30 s
    python scripts/noise_probe.py --seconds 10

Prints the blocks' medians (min, median, max), the spread max/min, and the share of blocks
within 5% of the median of all blocks.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

# One thread, set before numpy loads its BLAS.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402

BLOCK_S = 0.5  # one block: the median of the calls made in half a second


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to probe (default 30)")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 3600:
        parser.error(f"--seconds {args.seconds}: accepted 1 to 3600")
    rng = np.random.default_rng(0)
    w = rng.standard_normal((1024, 1024), dtype=np.float32)
    x = rng.standard_normal(1024, dtype=np.float32)
    blocks = []
    end = time.perf_counter() + args.seconds
    while time.perf_counter() < end:
        calls, stop = [], time.perf_counter() + BLOCK_S
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            w @ x
            calls.append(time.perf_counter() - t0)
        blocks.append(statistics.median(calls))
    mid = statistics.median(blocks)
    within = sum(abs(b / mid - 1) <= 0.05 for b in blocks) / len(blocks)
    print(f"noise probe: 1024x1024 float32 W@x, 1 thread, {args.seconds:.0f} s, {len(blocks)} blocks: medians "
          f"{min(blocks) * 1e6:.1f} / {mid * 1e6:.1f} / {max(blocks) * 1e6:.1f} us (min / median / max), spread "
          f"{max(blocks) / min(blocks):.2f}x, {within:.0%} of blocks within 5% of the median")
    return 0


if __name__ == "__main__":
    sys.exit(main())
