"""docs/schema.md is generated from the records the loader checks, and is never stale."""

from pathlib import Path

import pytest

from lowrank import cli
from lowrank.present import schema_doc
from lowrank.record.suites import SUITES, Field, Pairing, Suite

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_schema_doc_is_what_the_records_generate():
    committed = (REPO / "docs" / "schema.md").read_text(encoding="utf-8")
    assert committed == schema_doc.markdown(), "docs/schema.md is stale: run `lowrank-bench schema`"


def test_every_suite_and_field_is_documented():
    text = schema_doc.markdown()
    for suite in SUITES.values():
        assert f"## Suite `{suite.name}`" in text and suite.benchmark in text
        for name in suite.record():
            assert f"| `{name}` |" in text, (suite.name, name)
        for pairing in suite.pairings:
            assert f"- `{pairing.metric}`:" in text


def test_check_fails_on_a_stale_file_and_passes_once_written(tmp_path, capsys):
    path = tmp_path / "SCHEMA.md"
    path.write_text("# hand-edited\n")
    assert cli.main(["schema", "--check", "-o", str(path)]) == 1
    assert "stale" in capsys.readouterr().err
    assert cli.main(["schema", "-o", str(path)]) == 0
    assert cli.main(["schema", "--check", "-o", str(path)]) == 0


def test_a_suite_definition_is_checked_when_declared():
    with pytest.raises(ValueError, match="exact fields .*'nope'"):
        Suite("x", "x", "benchmarks/bench_x.py", "", {"a": Field("int", "")}, "", exact={"nope": "identical"})
    with pytest.raises(ValueError, match="unknown part"):
        Field("integer", "")


def test_pairings_pair_by_columns_not_by_ids():
    pairing = Pairing("speedup", {"variant": ("dense",)}, {"variant": ("factored",)}, ("d", "batch"), "")
    cases = {
        "odd-name-1": {"extra_info": {"variant": "dense", "d": 8, "batch": 1}},
        "odd-name-2": {"extra_info": {"variant": "factored", "d": 8, "batch": 1, "rank": 2}},
        "odd-name-3": {"extra_info": {"variant": "factored", "d": 8, "batch": 32, "rank": 2}},  # no dense partner
        "odd-name-4": {"extra_info": {"variant": "factored", "d": 8, "batch": 1, "rank": 4}},
    }
    assert pairing.partners(cases) == {"odd-name-2": "odd-name-1", "odd-name-4": "odd-name-1"}
