"""The output guard: it protects exactly what the loader reads as a result file, and stays cheap on other files."""

from __future__ import annotations

import gzip
import json

import pytest

from lowrank.store import documents, files, load
from tests import synthetic as data

RUN = json.dumps(data.document(data.small_run())).encode()
ESCAPED = RUN.replace(b'"benchmarks"', b'"\\u0062enchmarks"')

# Bytes a file may hold; for each the guard must say what the loader says.
CONTENTS = {
    "run": RUN,
    "gzip run": gzip.compress(RUN),
    "escaped keys": ESCAPED,
    "gzip, escaped keys": gzip.compress(ESCAPED),
    "white space first": b"\r\n\t " * 3000 + ESCAPED,
    "gzip, white space first": gzip.compress(b"\n" * 20_000 + RUN),
    "baseline": json.dumps({**json.loads(RUN), "lowrank_bench_baseline": {"name": "b"}}).encode(),
    "foreign pytest-benchmark run": json.dumps({"benchmarks": [{"name": "x", "stats": {"median": 1}}]}).encode(),
    "empty benchmarks list": b'{"benchmarks": []}',
    "benchmarks not a list": b'{"benchmarks": {}}',
    "a list": b'[{"benchmarks": []}]',
    "byte-order mark": b"\xef\xbb\xbf" + RUN,
    "UTF-16": RUN.decode().encode("utf-16"),
    "gzip of gzip": gzip.compress(gzip.compress(RUN)),
    "damaged gzip": gzip.compress(RUN)[:40],
    "corrupt deflate": (lambda z: z[:12] + bytes([z[12] ^ 0x55]) + z[13:])(gzip.compress(RUN)),
    "truncated": RUN[: len(RUN) // 2],
    "csv": b"run_id,median\nx,1\n",
    "markdown": b"# report\n\n{\"benchmarks\": []}\n",
    "empty": b"",
}


def _loader_reads(path) -> bool:
    try:
        load.read_json(path)
    except load.ResultFileError:
        return False
    return True


@pytest.mark.parametrize("case", list(CONTENTS))
@pytest.mark.parametrize("name", ["out.json", "out.json.gz", "out.csv", "out"])
def test_the_guard_protects_exactly_what_the_loader_reads(tmp_path, case, name):
    path = tmp_path / name
    path.write_bytes(CONTENTS[case])
    assert files.is_result_file(path) is _loader_reads(path)


def test_the_cases_cover_both_verdicts():
    expected = {"run", "gzip run", "escaped keys", "gzip, escaped keys", "white space first",
                "gzip, white space first", "baseline", "foreign pytest-benchmark run", "empty benchmarks list"}
    assert {c for c, raw in CONTENTS.items() if _parses(raw)} == expected


def _parses(raw: bytes) -> bool:
    try:
        documents.parse(raw)
    except documents.DocumentError:
        return False
    return True


@pytest.mark.parametrize("head", [b"run_id,median\n", b"\x89PNG\r\n\x1a\n", b"# report\n", b"   [1, 2]", b"\n\n"])
def test_a_file_that_cannot_open_a_json_object_is_never_parsed(tmp_path, monkeypatch, head):
    # A large CSV or figure in the way of an output is judged by its first bytes, not read whole.
    path = tmp_path / "big"
    with open(path, "wb") as fh:
        fh.write(head)
        fh.write(b"x" * (8 * 2**20))

    def parse(_raw):
        raise AssertionError("parsed a file that cannot be a result file")

    monkeypatch.setattr(documents, "parse", parse)
    assert files.is_result_file(path) is False


def test_a_corrupt_gzip_run_is_named_by_the_loader(tmp_path):
    path = tmp_path / "run.json.gz"
    path.write_bytes(CONTENTS["corrupt deflate"])
    with pytest.raises(load.ResultFileError, match="damaged gzip"):
        load.load([path])
