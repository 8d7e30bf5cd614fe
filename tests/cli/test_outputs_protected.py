"""Outputs never land on what lowrank-bench reads: result files in any encoding, input folders, staging leftovers.

Each refusal is a command a user could type: it must exit 2 with one line naming the option and
the path, no traceback, and leave every file byte-identical. The protected files are built here
and first shown to be read by the loader, so that the guard and the loader are seen to agree.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lowrank import cli
from lowrank.store import load
from tests import recorded
from tests import synthetic as data
from tests.cli.test_hostile_input import run

ROOT = Path(__file__).resolve().parents[2]


def digest(root: Path) -> dict:
    """Every file and folder under ``root`` (hidden ones included) with the sha256 of each file."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
            for p in sorted(root.rglob("*")) if not p.is_symlink()}


def assert_refused(code, err, *words):
    """Exit 2, no traceback, and exactly one line on stderr holding every word."""
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], err


def small_doc(**kw) -> dict:
    return data.document(data.small_run(), **kw)


# Ways a result file may be stored that a sniff of its raw bytes for '"benchmarks"' misses.
def _escaped(doc) -> bytes:
    return json.dumps(doc).replace('"benchmarks"', '"\\u0062enchmarks"').encode()


ENCODINGS = {
    "gzip": lambda doc: gzip.compress(json.dumps(doc).encode()),
    "escaped keys": _escaped,
    "gzip, escaped keys": lambda doc: gzip.compress(_escaped(doc)),
    # past the first chunks the guard reads before deciding whether to parse
    "escaped keys after white space": lambda doc: b" \r\n\t" * 5000 + _escaped(doc),
}


def stored(path: Path, doc: dict, encoding: str) -> Path:
    """``doc`` written to ``path`` in ``encoding``, after checking that lowrank-bench reads it as the run it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = ENCODINGS[encoding](doc)
    assert b'"benchmarks"' not in raw  # what the old guard looked for
    path.write_bytes(raw)
    assert load.read_document(path) == json.loads(json.dumps(doc))
    return path


@pytest.fixture
def runs(tmp_path):
    """A recorded run (raw samples, for the gate) and a baseline of it, in their own folder."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps(recorded.run("matvec-aa", 1)))
    assert cli.main(["baseline", str(folder / "run.json"), "--name", "mine", "--dir", str(folder / "bl")]) == 0
    return folder


# -- result files, whatever their encoding or name -----------------------------------------------------
@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("name", ["X.json.gz", "X.csv", "X.md", "X"])
def test_no_file_output_writes_over_a_result_file_stored_any_way(runs, tmp_path, capsys, encoding, name):
    target = stored(tmp_path / "out" / name, recorded.run("matvec-aa", 2), encoding)
    gate = ["gate", runs / "run.json", "--baseline", runs / "bl" / "mine.json"]
    commands = [(["schema", "-o", target], "-o"),
                ([*gate, "--markdown", target], "--markdown"),
                ([*gate, "--failed-ids", target], "--failed-ids")]
    if not name.endswith(".json.gz"):  # csv refuses that name outright (next test)
        commands.append((["csv", runs / "run.json", "-o", target], "-o"))
    before = digest(tmp_path)
    for argv, option in commands:
        code, err = run(argv, capsys)
        assert_refused(code, err, option, str(target), "is a result file")
        assert digest(tmp_path) == before, argv


def test_csv_refuses_a_result_files_name_and_a_compressed_run_of_any_name(runs, tmp_path, capsys):
    reference = stored(tmp_path / "reference" / "X.json.gz", recorded.run("matvec-aa", 2), "gzip")
    before = digest(tmp_path)
    code, err = run(["csv", runs / "run.json", "-o", reference], capsys)
    assert_refused(code, err, "-o", str(reference), "must not be named .json or .json.gz")
    code, err = run(["csv", runs / "run.json", "-o", tmp_path / "new.json.gz"], capsys)
    assert_refused(code, err, "new.json.gz", "accepted")
    assert digest(tmp_path) == before


@pytest.mark.parametrize("encoding", ["gzip", "escaped keys"])
@pytest.mark.parametrize("name", ["times.json", "speedups.json"])
def test_export_never_replaces_a_result_file_of_its_folder(runs, tmp_path, capsys, encoding, name):
    out = tmp_path / "export"
    target = stored(out / name, small_doc(), encoding)
    before = digest(tmp_path)
    code, err = run(["export", runs / "run.json", "-o", out], capsys)
    assert_refused(code, err, "-o", str(target), "is a result file")
    assert digest(tmp_path) == before


@pytest.mark.parametrize("command, name", [("report", "report.md"), ("report", "results.csv"),
                                           ("history", "history.md"), ("history", "change_points.csv"),
                                           ("compare", "comparison.csv")])
def test_report_folders_never_replace_a_result_file_among_their_files(tmp_path, capsys, command, name):
    first = data.write(tmp_path / "in" / "a.json", small_doc(datetime="2026-01-01T00:00:00+00:00"))
    second = data.write(tmp_path / "in" / "b.json", small_doc(datetime="2026-01-02T00:00:00+00:00"))
    out = tmp_path / "out"
    target = stored(out / name, small_doc(), "gzip")
    (out / "notes.txt").write_text("kept")
    argv = {"report": ["report", first, "-o", out, "--bootstrap", "0"], "history": ["history", first, second, "-o", out],
            "compare": ["compare", first, second, "-o", out]}[command]
    before = digest(tmp_path)
    code, err = run(argv, capsys)
    lines = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and len(lines) == 1 and str(target) in lines[0] and "is a result file" in lines[0], err
    assert digest(tmp_path) == before  # no page replaced, no staging folder left


def test_files_that_only_look_like_results_are_still_outputs(runs, tmp_path, capsys):
    # Not result files for the loader either: a gzip of another JSON, a list, a CSV, a damaged gzip.
    out = tmp_path / "out"
    out.mkdir()
    (out / "other.gz").write_bytes(gzip.compress(b'{"benchmarks": "not a list"}'))
    (out / "list.json.txt").write_text('[{"benchmarks": []}]')
    (out / "old.csv").write_text("run_id,median\nx,1\n")
    whole = gzip.compress(json.dumps(small_doc()).encode())
    (out / "damaged.gz").write_bytes(whole[:12] + bytes([whole[12] ^ 0x55]) + whole[13:])
    for target in sorted(out.iterdir()):
        code, err = run(["csv", runs / "run.json", "-o", target], capsys)
        assert code == 0, err
        assert target.read_text().startswith("run_id,")


# -- output folders apart from the inputs --------------------------------------------------------------
def _argv(command: str, inputs, out: Path):
    inputs = list(inputs)
    return {"report": ["report", *inputs, "-o", out, "--bootstrap", "0"], "history": ["history", *inputs, "-o", out],
            "export": ["export", inputs[0], "-o", out], "compare": ["compare", *inputs, "-o", out]}[command]


FILE_INPUTS = ["contains the input", "contains the input (via ..)"]
FOLDER_INPUTS = ["is the input folder", "is inside the input folder", *FILE_INPUTS]


@pytest.mark.parametrize("command, relation", [
    *[(c, r) for c in ("report", "history") for r in FOLDER_INPUTS],
    *[(c, r) for c in ("export", "compare") for r in FILE_INPUTS],  # these take files only
])
def test_an_output_folder_overlapping_an_input_is_refused_before_reading(tmp_path, capsys, command, relation):
    folder = tmp_path / "in"
    files = [data.write(folder / "a.json", small_doc(datetime="2026-01-01T00:00:00+00:00")),
             data.write(folder / "b.json", small_doc(datetime="2026-01-02T00:00:00+00:00"))]
    (tmp_path / "out").mkdir()
    inputs = [folder] if relation in FOLDER_INPUTS[:2] else files
    out = {"contains the input": tmp_path, "contains the input (via ..)": tmp_path / "out" / ".." / "in",
           "is the input folder": folder, "is inside the input folder": folder / "report"}[relation]
    before = digest(tmp_path)
    code, err = run(_argv(command, inputs, out), capsys)
    assert_refused(code, err, "-o", str(out), relation.split(" (")[0], "choose another folder")
    assert "[load]" not in err  # refused before any file was read
    assert digest(tmp_path) == before


def test_an_output_folder_beside_the_inputs_is_fine(tmp_path, capsys):
    run_file = data.write(tmp_path / "in" / "a.json", small_doc())
    code, err = run(["export", run_file, "-o", tmp_path / "in-export"], capsys)  # a name sharing a prefix
    assert code == 0, err
    assert json.loads((tmp_path / "in-export" / "times.json").read_text())


def test_model_report_and_runs_folders_stay_out_of_the_checkpoint(tmp_path, capsys):
    from safetensors.numpy import save_file

    model = tmp_path / "model"
    model.mkdir()
    save_file({"a.weight": np.ones((8, 4), np.float32)}, str(model / "model.safetensors"))
    before = digest(tmp_path)
    for argv, words in ((["--report", tmp_path], ["--report", "contains the input"]),
                        (["--report", model / "report"], ["--report", "is inside the input folder"]),
                        (["--runs", model], ["--runs", "is the input folder"])):
        code, err = run(["model", model, "--no-timing", *argv], capsys)
        assert_refused(code, err, *words)
        assert digest(tmp_path) == before


# -- model: every output checked against the others before any work ------------------------------------
def test_model_json_and_save_naming_one_file_write_nothing(tmp_path, capsys):
    from safetensors.numpy import save_file

    checkpoint = tmp_path / "m.safetensors"
    save_file({"a.weight": np.ones((8, 4), np.float32)}, str(checkpoint))
    folder = tmp_path / "folder-model"
    folder.mkdir()
    save_file({"a.weight": np.ones((8, 4), np.float32)}, str(folder / "model.safetensors"))
    before = digest(tmp_path)
    for path, argv, words in (
            (checkpoint, ["--json", tmp_path / "x", "--save", tmp_path / "x"], ["--json", "--save", "the same file"]),
            (checkpoint, ["--json", tmp_path / "x", "--save", tmp_path / "sub" / ".." / "x"], ["the same file"]),
            (checkpoint, ["--json", tmp_path / "rep" / "report.md", "--report", tmp_path / "rep"],
             ["--json", "report.md", "one of the files --report"]),
            (checkpoint, ["--save", tmp_path / "rep" / "figures" / "f.safetensors", "--report", tmp_path / "rep"],
             ["--save", "one of the files --report"]),
            (folder, ["--save", folder / "factors.safetensors"], ["--save", "inside the model folder"])):
        code, err = run(["model", path, "--no-timing", *argv], capsys)
        assert_refused(code, err, *words)
        assert digest(tmp_path) == before, argv


def test_model_writes_both_outputs_when_they_differ(tmp_path, capsys):
    from safetensors.numpy import save_file

    checkpoint = tmp_path / "m.safetensors"
    rng = np.random.default_rng(0)
    save_file({"a.weight": rng.standard_normal((16, 12)).astype(np.float32)}, str(checkpoint))
    code, err = run(["model", checkpoint, "--no-timing", "--max-error", "0.95", "--json", tmp_path / "plan.json",
                     "--save", tmp_path / "factors.safetensors", "--report", tmp_path / "rep"], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "plan.json").read_text())["layers"][0]["name"] == "a.weight"
    assert (tmp_path / "factors.safetensors").stat().st_size > 0 and (tmp_path / "rep" / "report.md").is_file()


# -- SIGTERM and what a killed command leaves ----------------------------------------------------------
SIGTERM_MIDWAY = textwrap.dedent("""\
    import os, signal, sys
    from lowrank import cli
    from lowrank.present import plots

    real = plots.save

    def save(fig, path):  # a CI job cancelled while the figures are being drawn
        real(fig, path)
        os.kill(os.getpid(), signal.SIGTERM)

    plots.save = save
    sys.exit(cli.main(sys.argv[1:]))
    """)


@pytest.mark.parametrize("command", ["report", "history"])
def test_sigterm_midway_removes_the_staging_folder_and_keeps_the_old_pages(tmp_path, command):
    first = data.write(tmp_path / "in" / "a.json", small_doc(datetime="2026-01-01T00:00:00+00:00"))
    second = data.write(tmp_path / "in" / "b.json", small_doc(datetime="2026-01-02T00:00:00+00:00"))
    out = tmp_path / "out"
    out.mkdir()
    (out / f"{command}.md").write_text("the old page")
    before = digest(tmp_path)
    argv = [command, first, second, "-o", out] + (["--bootstrap", "0"] if command == "report" else [])
    env = {**os.environ, "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run([sys.executable, "-c", SIGTERM_MIDWAY, *map(str, argv)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"lowrank-bench {command}: interrupted (SIGTERM)", proc.stderr
    assert "Traceback" not in proc.stderr
    assert digest(tmp_path) == before  # no staging folder left, no page replaced


def test_a_killed_commands_staging_folder_does_not_break_reading_a_folder_of_runs(tmp_path, capsys):
    runs = tmp_path / "runs"
    data.write(runs / "a.json", small_doc())
    # What a command killed with SIGKILL leaves: its hidden staging folder, its partial files.
    data.write(runs / ".export.k2j4.partial" / "times.json", [{"name": "x", "unit": "us", "value": 1.0}])
    (runs / ".report.q81z.partial").mkdir()
    (runs / ".report.q81z.partial" / "results.json.gz").write_bytes(gzip.compress(b"not json"))
    data.write(runs / ".b.json.x8k1.partial.json", "{")
    code, err = run(["csv", runs, "-o", tmp_path / "all.csv"], capsys)
    assert code == 0, err
    assert set(pd.read_csv(tmp_path / "all.csv")["run_id"]) == {"a"}
    code, err = run(["history", runs, "-o", tmp_path / "hist"], capsys)
    assert code == 0, err
