"""Operands built once per run and shared by its worker processes (and its counted workers).

The driver (``benchmarks/engine/driver.py``) names a folder in each worker's spec; the first
process that needs an operand builds it and saves it there, atomically, and the others load it.
A counted run builds them natively first (``driver.prepare_operands``): under valgrind an SVD
of 1024² takes minutes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.engine import driver
from lowrank.record.atomic import write_atomic


def shared(name: str, build) -> dict[str, np.ndarray]:
    """``build()`` (a dict of arrays), or what an earlier process of this run saved under ``name``."""
    spec = driver.current()
    folder = spec.operand_cache if spec is not None else None
    if not folder:
        return build()
    path = Path(folder) / f"{name}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as saved:
            return {key: saved[key] for key in saved.files}
    arrays = build()

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would add ".npz" to a path
            np.savez(fh, **arrays)

    write_atomic(path, save)  # another process sees the whole file or none
    return arrays
