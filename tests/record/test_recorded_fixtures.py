"""The recorded result files are current, complete and what their manifest says they are.

When this fails after a change of the result schema or the timing engine (the counting engine,
for a counted set), the verdict tests are reading files the suite would no longer write:
re-record them.
"""

import json

import pytest

from benchmarks.engine.counting import COUNTING_VERSION
from benchmarks.engine.timing import ENGINE_VERSION
from lowrank.record.schema import SCHEMA_TAG
from lowrank.store.load import read_document
from tests import recorded

SETS = recorded.manifest()["sets"]


def test_every_set_the_tests_read_is_recorded():
    assert {"matvec-aa", "suites-aa", "quick", "ab-apply"} <= set(SETS)


@pytest.mark.parametrize("name", sorted(SETS))
def test_each_set_matches_the_schema_and_timing_engine_of_this_code(name):
    entry = SETS[name]
    assert entry["schema"] == SCHEMA_TAG, (
        f"tests/recorded/{name} was recorded with schema {entry['schema']}, this code writes {SCHEMA_TAG}: "
        + recorded.RERECORD)
    if entry["settings"].get("LOWRANK_BENCH_METRIC") == "instructions":
        # A counted set holds instructions, not times: the counting engine decides whether it is current.
        for file in sorted((recorded.FOLDER / name).glob("*.json")):
            engines = {b["extra_info"].get("counting_engine") for b in read_document(file)["benchmarks"]}
            assert engines == {COUNTING_VERSION}, (
                f"tests/recorded/{name}/{file.name} was counted by engine(s) {engines}, this code has "
                f"{COUNTING_VERSION}: " + recorded.RERECORD)
    else:
        assert entry["timing_engine"] == ENGINE_VERSION, (
            f"tests/recorded/{name} was recorded with timing engine {entry['timing_engine']}, this code has "
            f"{ENGINE_VERSION}: " + recorded.RERECORD)
    assert entry["tries"][-1]["kept"] and entry["tries"][-1]["problem"] is None


@pytest.mark.parametrize("name", sorted(SETS))
def test_each_file_is_a_valid_result_file_of_its_settings(name):
    entry = SETS[name]
    files = sorted((recorded.FOLDER / name).glob("*.json"))
    assert files, f"tests/recorded/{name} holds no result file: " + recorded.RERECORD
    for file in files:
        doc = read_document(file)  # the loader's validation: schema, fields, completeness
        block = doc["machine_info"]["lowrank_bench"]
        assert block["schema"] == SCHEMA_TAG and block["complete"] is True
        assert doc["commit_info"] is not None
        profile = entry["settings"].get("LOWRANK_BENCH_PROFILE", entry["settings"].get("profile"))
        assert block["profile"] == profile
        if "LOWRANK_BENCH_THREADS" in entry["settings"]:
            assert block["threads"]["requested"] == int(entry["settings"]["LOWRANK_BENCH_THREADS"])
        if name != "ab-apply":  # raw samples: the gate's statistics need them
            assert all(b["stats"]["data"] for b in doc["benchmarks"])


def test_the_recorded_files_stay_small():
    # A few MB in all: they travel with every clone.
    size = sum(p.stat().st_size for p in recorded.FOLDER.rglob("*.json"))
    assert size < 8 * 2**20, f"tests/recorded holds {size / 2**20:.1f} MiB"
    assert all(p.stat().st_size < 2 * 2**20 for p in recorded.FOLDER.rglob("*.json"))


def test_the_runs_of_an_a_a_set_time_the_same_cases():
    for name in ("matvec-aa", "suites-aa"):
        ids = [sorted(b["fullname"] for b in recorded.run(name, i)["benchmarks"])
               for i in range(1, len(list((recorded.FOLDER / name).glob("run*.json"))) + 1)]
        assert len(ids) >= 2 and all(i == ids[0] for i in ids), name


def test_the_manifest_is_valid_json_with_every_try():
    text = recorded.MANIFEST.read_text()
    assert json.loads(text)["sets"] == SETS
    for entry in SETS.values():
        assert all({"try", "seconds", "kept", "problem"} <= set(t) for t in entry["tries"])
