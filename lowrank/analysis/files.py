"""Writing result files: never half a file, never over an existing one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from lowrank.errors import LowRankValueError


def write_new(target: Path, write) -> Path:
    """Create ``target`` by ``write(temporary path)`` and a hard link: never half a file, never a replacement.

    The temporary file is hidden in the same folder; the link fails if ``target`` appeared meanwhile.
    """
    target = Path(target)
    if target.exists():
        raise LowRankValueError(f"{target} exists; choose another name (result files are never overwritten)")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.link(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def write_new_text(target: Path, text: str) -> Path:
    """:func:`write_new` of a text file."""
    return write_new(target, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def new_folder(parent: Path, stem: str) -> Path:
    """A folder under ``parent`` that did not exist (``stem``, ``stem-2``, ...)."""
    parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        folder = parent / (stem if n == 1 else f"{stem}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            n += 1
