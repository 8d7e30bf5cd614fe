"""Writing files: result files never half-written nor overwritten; replaceable outputs (reports, summaries, CSVs) checked before any work and replaced atomically."""

from __future__ import annotations

import os
import shutil
import tempfile
import zlib
from contextlib import contextmanager
from pathlib import Path

from lowrank.errors import LowRankValueError
from lowrank.record.atomic import write_atomic, write_text_atomic
from lowrank.store import documents


def write_new(target: Path, write) -> Path:
    """Create ``target`` by ``write(temporary path)``: never half a file, never a replacement
    (:func:`lowrank.record.atomic.write_atomic`; the link fails if ``target`` appeared meanwhile)."""
    target = Path(target)
    if target.exists():
        raise LowRankValueError(f"{target} exists; choose another name (result files are never overwritten)")
    return write_atomic(target, write, replace=False)


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


# -- outputs that a command may replace (a report, a summary, a CSV) -----------------------------------
# A result file is never an output, whatever the command: whatever the loader reads as a run or a
# baseline (lowrank/store/documents.py: gzip-compressed or not, any name, keys spelled with escapes)
# is refused as a target.
def is_result_file(path: Path) -> bool:
    """Whether lowrank-bench would read ``path`` as a result file or baseline.

    The loader's own reading (:func:`lowrank.store.documents.parse`) decides, after a look at
    the first bytes so that a large file that is neither gzip nor a JSON object is not parsed.
    A file that cannot be read or parsed is not one: the loader would refuse it too.
    """
    path = Path(path)
    try:
        if not path.is_file() or not documents.may_hold_document(path):
            return False
        documents.parse(path.read_bytes())
    except (documents.DocumentError, OSError, EOFError, zlib.error, RecursionError):
        return False
    return True


def check_output(target, *, inputs=(), option: str = "output", replace: bool = True) -> Path:
    """Refuse an output file before any work is done; return it as a Path.

    Refused, each with a message naming ``option`` and the path: a symbolic link (writing
    through it would change the file it points to), a folder, one of the command's
    ``inputs``, an existing result file or baseline, and any existing file when ``replace``
    is False.
    """
    target = Path(target)
    if target.is_symlink():
        raise LowRankValueError(f"{option} {target}: is a symbolic link; outputs are never written through links "
                                "(name the file itself)")
    if target.is_dir():
        raise LowRankValueError(f"{option} {target}: is a folder; a file name is needed")
    for source in inputs:
        try:
            if target.exists() and Path(source).exists() and os.path.samefile(target, source):
                raise LowRankValueError(f"{option} {target}: is one of the command's inputs; choose another name")
        except OSError:
            continue
    if is_result_file(target):
        raise LowRankValueError(f"{option} {target}: is a result file; result files and baselines are never "
                                "overwritten (choose another name)")
    if target.exists() and not replace:
        raise LowRankValueError(f"{option} {target}: exists; choose another name (it is never overwritten)")
    if target.parent.exists() and not target.parent.is_dir():
        raise LowRankValueError(f"{option} {target}: its folder {target.parent} is a file")
    return target


def check_output_folder(folder, *, inputs=(), option: str = "--output") -> Path:
    """Refuse an output folder before any work is done; return it as a Path.

    Refused, each with a message naming ``option`` and the folder: a file, a symbolic link,
    and a folder that is one of the ``inputs`` (files or folders), contains one or lies inside
    one. Paths are compared once resolved (``out/../in`` is ``in``): outputs written among the
    inputs would be read back as inputs, or replace them.
    """
    folder = Path(folder)
    if folder.is_symlink():
        raise LowRankValueError(f"{option} {folder}: is a symbolic link; name the folder itself")
    if folder.exists() and not folder.is_dir():
        raise LowRankValueError(f"{option} {folder}: is a file; an output folder is needed")
    where = Path(os.path.realpath(folder))
    for source in inputs:
        source_path = Path(os.path.realpath(source))
        if where == source_path:
            relation = "is the input folder"
        elif where in source_path.parents:
            relation = "contains the input"
        elif source_path in where.parents:
            relation = "is inside the input folder"
        else:
            continue
        raise LowRankValueError(f"{option} {folder}: {relation} {source}; an output folder must be apart from the "
                                "command's inputs (choose another folder)")
    return folder


def replace_text(target, text: str, *, inputs=(), option: str = "output") -> Path:
    """Write ``text`` to ``target`` atomically (a temporary file moved into place), after :func:`check_output`.

    Readers see the old file or the whole new one, never half of one.
    """
    target = check_output(target, inputs=inputs, option=option)
    return write_text_atomic(target, text)


@contextmanager
def staged_folder(folder, *, inputs=(), option: str = "--output"):
    """Write a folder's outputs into a hidden staging folder; move them in only when all are written.

    Yields the staging folder. On success every file written there replaces its namesake
    in ``folder`` (files of ``folder`` that were not rewritten stay); on an error nothing in
    ``folder`` changes. So a command that fails half-way leaves the old outputs, never a mix.
    """
    folder = check_output_folder(folder, inputs=inputs, option=option)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent))
    try:
        yield staging
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        for src in files:  # every target checked before the first is replaced
            check_output(folder / src.relative_to(staging), inputs=inputs, option=option)
        for src in files:
            dst = folder / src.relative_to(staging)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(src, 0o644)
            os.replace(src, dst)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def relocated(path, staging: Path, folder: Path) -> Path:
    """``path`` under ``staging`` as it is named once moved into ``folder``."""
    try:
        return Path(folder) / Path(path).relative_to(staging)
    except ValueError:
        return Path(path)
