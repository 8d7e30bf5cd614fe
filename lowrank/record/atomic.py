"""The one atomic writer: a file is written under a hidden temporary name beside its target, then
moved into place, so a reader sees the old file (or none) or the whole new one, never half of one.

The bottom of the tooling, so that the benchmark suite (its result files, the operands its workers
share) and the readers' commands (reports, baselines, exports) write the same way.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(target, write, *, replace: bool = True, mode: int = 0o644) -> Path:
    """Create or replace ``target`` with the file ``write(temporary path)`` writes, atomically.

    ``replace=False`` never replaces: a hard link puts the file in place and raises
    :class:`FileExistsError` if ``target`` exists (also one that appeared meanwhile). The file
    gets ``mode`` (a temporary file is created private; results and baselines are shared).
    Returns ``target`` as a Path.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    try:
        os.close(fd)
        write(Path(tmp))
        os.chmod(tmp, mode)
        if replace:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def write_text_atomic(target, text: str, *, replace: bool = True) -> Path:
    """:func:`write_atomic` of a UTF-8 text."""
    return write_atomic(target, lambda tmp: tmp.write_text(text, encoding="utf-8"), replace=replace)
