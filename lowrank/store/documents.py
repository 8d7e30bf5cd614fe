"""The one reading of a result file's bytes: what the loader parses and what the output guard protects.

A file is a result file (a pytest-benchmark run or a baseline) when its bytes, gunzipped if
they start with gzip's magic number, are UTF-8 JSON holding an object with a ``benchmarks``
list, whatever the file is named and however its JSON spells its keys. The loader
(:func:`lowrank.store.load.read_json`) and the guard on outputs
(:func:`lowrank.store.files.is_result_file`) both decide with :func:`parse`, so no command
writes over a file that another would read as a run.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import zlib

GZIP_MAGIC = b"\x1f\x8b"
# What JSON allows before its first token (RFC 8259); a result document's first token is "{".
_JSON_SPACE = b" \t\n\r"
_CHUNK = 4096


class DocumentError(ValueError):
    """Bytes that are not a result document; ``problem`` says why, in the loader's words."""

    def __init__(self, problem: str):
        self.problem = problem
        super().__init__(problem)


def is_result_document(doc) -> bool:
    """Whether a parsed JSON value is a result document: an object with a ``benchmarks`` list."""
    return isinstance(doc, dict) and isinstance(doc.get("benchmarks"), list)


def parse(raw: bytes):
    """The result document held by ``raw`` (a file's bytes, gzip-compressed or not).

    Raises :class:`DocumentError` naming the problem: a damaged gzip stream, no content,
    not UTF-8, not valid JSON (truncated or corrupt), or JSON that is not a result document.
    """
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:  # a bad header, a cut-off stream, corrupt data
            raise DocumentError(f"is a damaged gzip file ({exc})") from None
    if not raw.strip():
        raise DocumentError("file is empty (was the benchmark run interrupted before it wrote results?)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DocumentError("is not a UTF-8 text file, so not a pytest-benchmark JSON result") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = "the file is truncated (was the run interrupted?)" if _unclosed(text) else "the file is corrupt"
        raise DocumentError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}); {hint}") from None
    except ValueError as exc:  # a number past Python's limit on digits (sys.set_int_max_str_digits)
        raise DocumentError(f"not a result file Python's JSON parser can read ({exc})") from None
    except RecursionError:
        # Python's parser recurses once per level: a file nested past its limit is no result file
        # (the suite's nest about 6 deep), and must be one bad file, not a crash of the command.
        raise DocumentError("JSON nested too deep for Python's parser (its recursion limit is "
                            f"{sys.getrecursionlimit()}): not a pytest-benchmark result file") from None
    if not is_result_document(doc):
        raise DocumentError("not a pytest-benchmark result file (expected a JSON object with a 'benchmarks' list, "
                            "as written by --benchmark-json or --benchmark-save)")
    return doc


def may_hold_document(path) -> bool:
    """Whether the file at ``path`` could hold a result document, read only up to its first JSON token.

    True when that token (after gunzipping a file that starts with gzip's magic number) is
    ``{``. A cheap test before :func:`parse`: a large CSV, Markdown or binary file is told
    apart by its first bytes. Raises OSError, EOFError or zlib.error when the file (or its
    gzip stream) cannot be read.
    """
    with open(path, "rb") as fh:
        magic = fh.read(len(GZIP_MAGIC))
        fh.seek(0)
        if magic == GZIP_MAGIC:
            with gzip.GzipFile(fileobj=fh) as unzipped:
                return _opens_object(unzipped)
        return _opens_object(fh)


def _opens_object(stream) -> bool:
    while chunk := stream.read(_CHUNK):
        token = chunk.lstrip(_JSON_SPACE)
        if token:
            return token[:1] == b"{"
    return False


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _unclosed(text: str) -> bool:
    """True when the JSON text ends inside a string or with brackets still open: cut off, not garbled."""
    bare = _JSON_STRING.sub("", text)
    if '"' in bare:
        return True
    return bare.count("{") + bare.count("[") > bare.count("}") + bare.count("]")
