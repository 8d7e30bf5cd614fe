"""Loading result files: the tidy frame, the layouts accepted, and a clear error for every bad file."""

import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from lowrank.errors import LowRankError
from lowrank.record.schema import SCHEMA_NAME, SCHEMA_VERSION
from lowrank.record.suites import SUITES
from lowrank.store import load
from lowrank.store.load import ResultFileError
from tests import synthetic as data


# -- the real run --------------------------------------------------------------------------------
def test_real_run_becomes_one_row_per_benchmark(quick_result):
    doc = json.loads(quick_result.read_text())
    result = load.load([quick_result])
    f = result.frame
    assert len(f) == len(doc["benchmarks"]) > 0
    assert len(result.runs) == 1 and result.errors == [] and result.skipped_foreign == 0
    run = result.runs[0]
    assert (f["run_id"] == run.run_id).all() and run.run_id == quick_result.stem
    assert (f["fingerprint"] == doc["machine_info"]["lowrank_bench"]["fingerprint"]).all()
    assert (f["commit"] == doc["commit_info"]["id"]).all()
    assert f["datetime"].notna().all()
    for column in list(SUITES["matvec"].record()) + ["median", "iqr", "min", "mean", "rounds", "param_backend", "param_rank"]:
        assert column in f, column
    # Every statistic is the file's own number, row for row.
    by_name = {b["name"]: b for b in doc["benchmarks"]}
    for rec in f.to_dict("records"):
        b = by_name[rec["name"]]
        assert rec["median"] == b["stats"]["median"] and rec["rounds"] == b["stats"]["rounds"]
        assert rec["n_samples"] == len(b["stats"]["data"]) and np.array_equal(rec["samples"], b["stats"]["data"])
        assert rec["rel_iqr"] == pytest.approx(b["stats"]["iqr"] / b["stats"]["median"])
        assert rec["d"] == b["extra_info"]["d"] and rec["param_d"] == b["params"]["d"]
    assert f["rank"].isna().sum() == (f["variant"] == "dense").sum()
    assert set(f["cache"]) == {"warm", "cold"}
    assert run.bandwidth_gbps("numpy") > 0 and run.peak_gflops("numpy", "float32") > 0


def test_csv_export_has_every_row_and_no_raw_samples(quick_result, tmp_path):
    result = load.load([quick_result])
    path = load.to_csv(result.frame, tmp_path / "out" / "results.csv")
    back = pd.read_csv(path)
    assert len(back) == len(result.frame)
    assert "samples" not in back and "n_samples" in back and "median" in back and "fingerprint" in back


def test_reading_never_changes_the_file(quick_result):
    before = hashlib.sha256(quick_result.read_bytes()).hexdigest()
    load.load([quick_result.parent], keep_going=True)
    assert hashlib.sha256(quick_result.read_bytes()).hexdigest() == before


# -- layouts ---------------------------------------------------------------------------------------
def test_benchmark_storage_folders_are_searched_recursively(tmp_path):
    # .benchmarks/<machine>/NNNN_*.json as --benchmark-save writes it; the same stem on two machines.
    for machine, when in (("Linux-CPython-3.11-64bit", "2026-01-01"), ("Darwin-CPython-3.11-64bit", "2026-01-02")):
        data.write(tmp_path / ".benchmarks" / machine / "0001_abc_20260101_000000.json",
                   data.document(data.small_run(), datetime=f"{when}T00:00:00+00:00"))
    data.write(tmp_path / ".benchmarks" / "x" / "run.1234.partial.json", "{")  # a run still writing
    result = load.load([tmp_path])
    assert len(result.runs) == 2 and len(result.frame) == 6
    assert [r.run_id for r in result.runs] == ["Linux-CPython-3.11-64bit/0001_abc_20260101_000000",
                                               "Darwin-CPython-3.11-64bit/0001_abc_20260101_000000"]


def test_hidden_entries_of_a_folder_are_skipped_but_benchmark_storage_is_read(tmp_path):
    # A command killed with SIGKILL leaves its hidden staging folder (lowrank/store/files.py) where it wrote.
    data.write(tmp_path / "runs" / "a.json", data.document(data.small_run()))
    data.write(tmp_path / "runs" / ".export.k2j4.partial" / "times.json", [{"name": "x", "value": 1.0}])
    data.write(tmp_path / "runs" / ".hidden.json", "{")
    data.write(tmp_path / "runs" / ".benchmarks" / "Linux" / "0001_x.json", data.document(data.small_run()))
    found = load.find_result_files([tmp_path / "runs"])
    assert [p.relative_to(tmp_path / "runs").as_posix() for p in found] == [".benchmarks/Linux/0001_x.json", "a.json"]
    assert len(load.load([tmp_path / "runs"]).runs) == 2
    assert load.newest_result_file(tmp_path / "runs") == tmp_path / "runs" / "a.json"
    named = data.write(tmp_path / ".named" / ".run.json", data.document(data.small_run()))
    assert load.find_result_files([named]) == [named]  # named, it is read
    with pytest.raises(ResultFileError, match="hidden files and folders left out"):
        load.find_result_files([named.parent])


def test_a_file_named_twice_is_read_once(tmp_path):
    path = data.write(tmp_path / "a.json", data.document(data.small_run()))
    result = load.load([path, tmp_path, str(path)])
    assert len(result.runs) == 1 and len(result.frame) == 3


def test_runs_are_ordered_oldest_first(tmp_path):
    data.write(tmp_path / "b.json", data.document(data.small_run(), datetime="2026-03-01T00:00:00+00:00"))
    data.write(tmp_path / "a.json", data.document(data.small_run(), datetime="2026-05-01T00:00:00+00:00"))
    result = load.load([tmp_path])
    assert [r.run_id for r in result.runs] == ["b", "a"]
    assert list(result.frame["run_id"].unique()) == ["b", "a"]


def test_newest_result_file_is_by_modification_time(tmp_path):
    old = data.write(tmp_path / "z_old.json", data.document(data.small_run()))
    new = data.write(tmp_path / "a_new.json", data.document(data.small_run()))
    import os

    os.utime(old, (1_000_000, 1_000_000))
    assert load.newest_result_file(tmp_path) == new


# -- other suites ----------------------------------------------------------------------------------
def test_foreign_benchmarks_are_skipped_and_counted_other_suites_kept(tmp_path):
    foreign = {"name": "test_other", "fullname": "x::test_other", "params": None, "extra_info": {},
               "stats": data.stats(1e-3)}
    tagged_elsewhere = {**foreign, "name": "test_tagged", "extra_info": {"schema": "someone-else/3"}}
    overhead = {"name": "bench_apply_overhead[apply-numpy]", "fullname": "b::bench_apply_overhead[apply-numpy]",
                "params": {"backend": "numpy", "variant": "apply"}, "param": "apply-numpy",
                "extra_info": {"schema": f"{SCHEMA_NAME}/{SCHEMA_VERSION}", "suite": "overhead", "variant": "apply",
                               "backend": "numpy", "dtype": "float32", "d": 1024, "k": 1024, "rank": 16, "batch": 1},
                "stats": data.stats(5e-6)}
    path = data.write(tmp_path / "mixed.json", data.document(data.small_run() + [foreign, tagged_elsewhere, overhead]))
    result = load.load([path])
    assert result.skipped_foreign == 2 and result.runs[0].n_foreign == 2
    assert result.runs[0].suites == {"matvec": 3, "overhead": 1}
    assert len(result.frame) == 4
    assert set(load.matvec(result.frame)["suite"]) == {"matvec"} and len(load.matvec(result.frame)) == 3
    assert "2 benchmarks of other suites skipped" in load.describe_loaded(result)


def test_a_file_of_only_foreign_benchmarks_is_an_error_naming_it(tmp_path):
    bench = {"name": "test_parse", "fullname": "tests/test_x.py::test_parse", "extra_info": {}, "stats": data.stats(1.0)}
    path = data.write(tmp_path / "other.json", data.document([bench]))
    with pytest.raises(load.ResultFileError) as err:
        load.load([path])
    message = str(err.value)
    assert "other.json" in message and "holds 1 benchmark(s), none of them lowrank-bench's" in message
    assert "tests/test_x.py::test_parse" in message


def test_a_file_with_no_benchmarks_is_an_error(tmp_path):
    path = data.write(tmp_path / "empty.json", data.document([]))
    with pytest.raises(load.ResultFileError, match="empty.json.*holds no benchmark results"):
        load.load([path])


def test_keep_going_skips_a_foreign_file_beside_a_good_one(tmp_path):
    good = data.write(tmp_path / "good.json", data.document(data.small_run()))
    data.write(tmp_path / "other.json", data.document([{"name": "t", "extra_info": {}, "stats": data.stats(1.0)}]))
    result = load.load([tmp_path], keep_going=True)
    assert [r.path for r in result.runs] == [str(good)] and len(result.errors) == 1


# -- bad files -------------------------------------------------------------------------------------
def _valid_text() -> str:
    return json.dumps(data.document(data.small_run()), indent=1)


def _with(mutate) -> str:
    doc = data.document(data.small_run())
    mutate(doc)
    return json.dumps(doc)


def _set(path, value):
    def mutate(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _drop_field(name):
    def mutate(doc):
        del doc["benchmarks"][1]["extra_info"][name]
    return mutate


NEWER = f"{SCHEMA_NAME}/{SCHEMA_VERSION + 1}"
BAD_FILES = {
    "empty": ("", ["file is empty"]),
    "blank": ("  \n\n", ["file is empty"]),
    "truncated": (_valid_text()[: len(_valid_text()) // 2], ["not valid JSON", "truncated"]),
    "corrupt": (_valid_text().replace('"benchmarks"', '"benchmarks" ]]', 1), ["not valid JSON", "line"]),
    "binary": (None, ["not a UTF-8 text file"]),
    "a list": ("[1, 2, 3]", ["not a pytest-benchmark result file", "'benchmarks'"]),
    "no benchmarks": ('{"machine_info": {}}', ["not a pytest-benchmark result file"]),
    "newer run schema": (_with(_set(["machine_info", "lowrank_bench", "schema"], NEWER)),
                         [repr(NEWER), "newer than this lowrank-bench reads", "upgrade"]),
    "newer bench schema": (_with(_set(["benchmarks", 0, "extra_info", "schema"], NEWER)),
                           [repr(NEWER), "newer", "bench_matvec[numpy-float32-d0064-k0048-dense-n001-warm]"]),
    "older schema": (_with(_set(["machine_info", "lowrank_bench", "schema"], f"{SCHEMA_NAME}/0")),
                     ["older than this lowrank-bench reads", "re-run"]),
    "missing field": (_with(_drop_field("bytes_moved")), ["does not match schema", "missing field 'bytes_moved'"]),
    "wrong type": (_with(_set(["benchmarks", 2, "extra_info", "d"], "64")), ["field 'd' is str", "expected int"]),
    "no suite": (_with(_drop_field("suite")), ["no 'suite' field"]),
    "unknown suite": (_with(_set(["benchmarks", 1, "extra_info", "suite"], "conv2d")),
                      ["suite 'conv2d'", "does not know", "known suites: matvec, factorize, lora, overhead"]),
    "no median": (_with(_set(["benchmarks", 0, "stats"], {"rounds": 3})), ["no timing statistics"]),
    "not an object": (_with(_set(["benchmarks", 1], 7)), ["benchmark #1 is not a JSON object"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_gets_one_error_naming_it_and_the_problem(tmp_path, case):
    text, words = BAD_FILES[case]
    path = tmp_path / "bad.json"
    if text is None:
        path.write_bytes(b"\xff\xfe\x00\x01binary")
    else:
        path.write_text(text)
    with pytest.raises(ResultFileError) as info:
        load.load([path])
    message = str(info.value)
    assert message.startswith(str(path) + ": ")
    for word in words:
        assert word in message, (word, message)
    assert "\n" not in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, LowRankError)


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(ResultFileError, match="no such file or folder"):
        load.load([tmp_path / "nope.json"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultFileError, match=r"empty: folder contains no \.json or \.json\.gz result files"):
        load.load([tmp_path / "empty"])
    with pytest.raises(ResultFileError, match="contains no .json result files"):
        load.newest_result_file(tmp_path / "empty")
    with pytest.raises(ResultFileError, match="does not exist"):
        load.newest_result_file(tmp_path / "missing")


def test_keep_going_reads_the_good_files_and_lists_the_bad(tmp_path):
    good = data.write(tmp_path / "good.json", data.document(data.small_run()))
    data.write(tmp_path / "truncated.json", _valid_text()[:100])
    data.write(tmp_path / "empty.json", "")
    with pytest.raises(ResultFileError):
        load.load([tmp_path])
    lines = []
    result = load.load([tmp_path, tmp_path / "missing"], keep_going=True, log=lines.append)
    assert [r.path for r in result.runs] == [str(good.resolve())]
    assert len(result.frame) == 3
    assert sorted(e.path.rsplit("/", 1)[-1] for e in result.errors) == ["empty.json", "missing", "truncated.json"]
    assert any("skipped" in line and "truncated.json" in line for line in lines)


def test_keep_going_still_fails_when_nothing_is_readable(tmp_path):
    data.write(tmp_path / "a.json", "")
    with pytest.raises(ResultFileError, match="no readable result file.*file is empty"):
        load.load([tmp_path], keep_going=True)


def test_copied_real_file_with_truncation_is_caught(quick_result, tmp_path):
    raw = quick_result.read_bytes()
    cut = tmp_path / "cut.json"
    cut.write_bytes(raw[: len(raw) * 2 // 3])
    shutil.copy(quick_result, tmp_path / "whole.json")
    result = load.load([tmp_path], keep_going=True)
    assert len(result.runs) == 1 and len(result.errors) == 1 and "truncated" in str(result.errors[0])


def test_version_1_files_still_load_with_the_new_fields_null(tmp_path):
    v1 = f"{SCHEMA_NAME}/1"
    benches = [data.bench(), data.bench(rank=4)]
    for b in benches:
        b["extra_info"]["schema"] = v1
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(data.document(benches, schema=v1)))
    loaded = load.load([path])
    assert len(loaded.frame) == 2
    assert loaded.frame["flag"].isna().all() and loaded.frame["process_spread"].isna().all()
    assert loaded.runs[0].complete  # a file without the field was written complete


def test_an_incomplete_run_says_so(tmp_path):
    doc = data.document([data.bench(), data.bench(rank=4)])
    doc["machine_info"]["lowrank_bench"].update({"complete": False, "cases_planned": 194, "cases_finished": 47})
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(doc))
    loaded = load.load([path])
    assert loaded.runs[0].completeness == "INCOMPLETE run: 47 of 194 cases (interrupted or failed before its last case)"
    assert "INCOMPLETE" in load.describe_loaded(loaded)


def test_a_gzip_compressed_run_reads_as_the_json_it_holds(quick_result, tmp_path):
    # The committed reference runs are *.json.gz (kept small); every reader takes them as the JSON.
    import gzip

    packed = tmp_path / "runs" / "quick-run.json.gz"
    packed.parent.mkdir()
    packed.write_bytes(gzip.compress(quick_result.read_bytes()))
    plain, compressed = load.load([quick_result]), load.load([packed.parent])  # a folder finds *.json.gz too
    assert compressed.runs[0].run_id == plain.runs[0].run_id == "quick-run"
    assert compressed.frame["median"].tolist() == plain.frame["median"].tolist()
    (tmp_path / "bad.json.gz").write_bytes(b"\x1f\x8b" + b"not gzip at all")
    with pytest.raises(load.ResultFileError, match="damaged gzip"):
        load.load([tmp_path / "bad.json.gz"])
