"""The output guard: it protects exactly what the loader reads as a result file, and stays cheap on other files."""

from __future__ import annotations

import gzip
import json
import os

import pytest

from lowrank.errors import LowRankError
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


# -- output folders ------------------------------------------------------------------------------------
@pytest.fixture
def tree(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "run.json").write_bytes(RUN)
    (tmp_path / "out").mkdir()
    os.symlink(tmp_path / "in", tmp_path / "link")
    return tmp_path


@pytest.mark.parametrize("folder, source, relation", [
    ("in", "in", "is the input folder"),
    ("in/report", "in", "is inside the input folder"),
    ("link/report", "in", "is inside the input folder"),  # through a link to the input folder
    ("out/../in/report", "in", "is inside the input folder"),
    (".", "in/run.json", "contains the input"),
    ("out/..", "in/run.json", "contains the input"),
    ("out/../in", "link/run.json", "contains the input"),
])
def test_an_output_folder_overlapping_an_input_is_refused(tree, folder, source, relation):
    with pytest.raises(LowRankError) as info:
        files.check_output_folder(tree / folder, inputs=[tree / source], option="-o")
    assert str(info.value).startswith(f"-o {tree / folder}: {relation} {tree / source};")


@pytest.mark.parametrize("folder, source", [("out", "in"), ("out", "in/run.json"), ("in-report", "in"),
                                            ("out/in", "in")])
def test_an_output_folder_apart_from_the_inputs_is_accepted(tree, folder, source):
    assert files.check_output_folder(tree / folder, inputs=[tree / source]) == tree / folder


def test_a_staged_folder_refuses_overlap_before_staging(tree):
    with pytest.raises(LowRankError, match="contains the input"):
        with files.staged_folder(tree, inputs=[tree / "in" / "run.json"]):
            raise AssertionError("no staging may start")
    assert not [p for p in tree.parent.iterdir() if p.name.startswith(f".{tree.name}.")]
