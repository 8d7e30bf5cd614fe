"""Hostile but realistic input: nothing lost, nothing switched off.

Each case is a command a user could type. It must exit 2 (bad input) with one line naming
the value and what is accepted, no traceback, and leave every file it could have touched
byte-identical.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from lowrank import cli
from lowrank.judge import inject
from lowrank.present import report
from tests import recorded


def run(argv, capsys) -> tuple[int, str]:
    """``lowrank-bench ARGV`` in this process: its exit code and stderr (argparse's exit included)."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    return code, capsys.readouterr().err


def digest(*paths) -> dict:
    """The bytes of every file under ``paths`` (folders walked), to show nothing changed."""
    out = {}
    for path in map(Path, paths):
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if f.exists() and not f.is_symlink():
                out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def assert_refused(code, err, *words):
    """Exit 2, no traceback, and one error line (after argparse's usage lines, if any) holding every word."""
    assert code == 2, err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    for word in words:
        assert word in errors[0], err


@pytest.fixture
def files(tmp_path):
    """A real run (recorded), a baseline of it, and a 3x slower copy of the run."""
    run1 = tmp_path / "run.json"
    run1.write_text(json.dumps(recorded.run("matvec-aa", 1)))
    slow = inject.slowed(recorded.run("matvec-aa", 2), 3)
    (tmp_path / "slow.json").write_text(json.dumps(slow))
    assert cli.main(["baseline", str(run1), "--name", "mine", "--dir", str(tmp_path / "bl")]) == 0
    return tmp_path


# -- outputs over inputs, results and baselines -------------------------------------------------------
@pytest.mark.parametrize("option", ["--markdown", "--failed-ids"])
def test_gate_outputs_never_land_on_the_baseline_or_a_run(files, capsys, option):
    before = digest(files)
    for target in (files / "bl" / "mine.json", files / "run.json"):
        code, err = run(["gate", files / "slow.json", "--baseline", files / "bl" / "mine.json", option, target],
                        capsys)
        assert_refused(code, err, option, str(target))
    assert digest(files) == before


def test_a_baseline_name_is_a_name_and_update_replaces_only_a_baseline(files, capsys):
    before = digest(files)
    code, err = run(["baseline", files / "run.json", "--name", "../evil", "--dir", files / "bl"], capsys)
    assert_refused(code, err, "'../evil'", "a name, not a path")
    assert not (files / "evil.json").exists()
    code, err = run(["baseline", files / "run.json", "--name", "run.json", "--dir", files, "--update"], capsys)
    assert_refused(code, err, "'run.json'", "without '.json'")
    (files / "run2.json").write_text((files / "run.json").read_text())
    before = digest(files)
    code, err = run(["baseline", files / "slow.json", "--name", "run2", "--dir", files, "--update"], capsys)
    assert_refused(code, err, "is not a baseline", "--update replaces only baselines")
    code, err = run(["baseline", files / "run.json", files / "run2.json", "--name", "twice", "--dir", files / "bl"],
                    capsys)
    assert_refused(code, err, "the same run as")
    assert digest(files) == before and not (files / "bl" / "twice.json").exists()


def test_csv_never_writes_over_its_input_or_through_a_link(files, capsys):
    (files / "run.txt").write_text((files / "run.json").read_text())
    os.symlink(files / "run.json", files / "link.csv")
    before = digest(files)
    code, err = run(["csv", files / "run.txt", "-o", files / "run.txt"], capsys)
    assert_refused(code, err, "is one of the command's inputs")
    code, err = run(["csv", files / "run.json", "-o", files / "link.csv"], capsys)
    assert_refused(code, err, "is a symbolic link")
    assert digest(files) == before
    code, err = run(["csv", files / "run.json", "-o", files / "out.csv"], capsys)
    assert code == 0 and (files / "out.csv").read_text().startswith("run_id")
    assert not list(files.glob(".*partial"))


def test_schema_never_writes_over_a_run_and_checks_a_binary_file_cleanly(files, capsys):
    before = digest(files)
    code, err = run(["schema", "-o", files / "run.json"], capsys)
    assert_refused(code, err, "is a result file")
    (files / "binary.md").write_bytes(bytes(range(256)))
    before = digest(files)
    code, err = run(["schema", "--check", "-o", files / "binary.md"], capsys)
    assert_refused(code, err, "not a UTF-8 text file")
    assert digest(files) == before


def test_a_report_that_fails_half_way_leaves_the_old_report(files, monkeypatch, tmp_path):
    out = tmp_path / "report"
    report.write_report([files / "run.json"], out, n_boot=0)
    before = digest(out)
    from lowrank.present import plots

    calls = {"n": 0}
    real = plots.save

    def fail_on_the_third_figure(fig, path):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full (simulated)")
        return real(fig, path)

    monkeypatch.setattr(plots, "save", fail_on_the_third_figure)
    with pytest.raises(RuntimeError, match="simulated"):
        report.write_report([files / "slow.json"], out, n_boot=0)
    assert digest(out) == before, "a failed report must leave the old one whole"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report.")], "no staging folder may remain"


# -- a gate that cannot be switched off ---------------------------------------------------------------
@pytest.mark.parametrize("flag, value", [("--min-effect", "nan"), ("--min-effect", "inf"), ("--min-effect", "-1"),
                                         ("--alpha", "0"), ("--alpha", "1"), ("--alpha", "2"), ("--alpha", "-0.1"),
                                         ("--alpha", "nan")])
def test_thresholds_that_would_switch_the_gate_off_are_refused(files, capsys, flag, value):
    code, err = run(["gate", files / "slow.json", "--baseline", files / "bl" / "mine.json", flag, value], capsys)
    assert_refused(code, err, flag, repr(value), "accepted")


def test_the_slow_run_fails_the_gate_at_the_projects_thresholds(files, capsys):
    # The verdict the refused flags above would have hidden (recorded data: 3x every time).
    code, _ = run(["gate", files / "slow.json", "--baseline", files / "bl" / "mine.json"], capsys)
    assert code == 1


@pytest.mark.parametrize("text, words", [
    ("[tool.lowrank-bench\ngate = 3\n", ["not valid TOML"]),
    ("[tool]\nlowrank-bench = {gate = 3}\n", ["tool.lowrank-bench.gate = 3", "accepted: a table"]),
    ("[tool.lowrank-bench.gate]\nmin_effect = nan\n", ["speedup_min_effect=nan"]),
    ("[tool.lowrank-bench.gate]\nalpha = true\n", ["alpha=True"]),
    ('[[tool.lowrank-bench.gate.override]]\npattern = "*"\nmin_effect = inf\n', ["override '*'", "inf"]),
    ('[[tool.lowrank-bench.gate.override]]\npattern = "*"\nalpha = 0\n', ["override '*'", "alpha=0"]),
    ('[[tool.lowrank-bench.gate.override]]\npattern = "*"\nthreshold = 0\n', ["unknown key(s) ['threshold']"]),
])
@pytest.mark.parametrize("command", ["gate", "compare", "ab"])
def test_a_bad_config_is_an_input_error_for_every_command_that_reads_it(files, capsys, text, words, command):
    config = files / "pyproject.toml"
    config.write_text(text)
    argv = {"gate": ["gate", files / "slow.json", "--baseline", files / "bl" / "mine.json"],
            "compare": ["compare", files / "run.json", files / "slow.json", "-o", files / "cmp"],
            "ab": ["ab", "HEAD", ".", "--repo", Path(__file__).resolve().parents[2]]}[command]
    code, err = run([*argv, "--config", config], capsys)
    assert_refused(code, err, str(config), *words)
    assert not (files / "cmp").exists()


# -- values read from result files --------------------------------------------------------------------
def _broken(files: Path, change) -> Path:
    doc = recorded.run("matvec-aa", 1)
    change(doc)
    path = files / "broken.json"
    path.write_text(json.dumps(doc))
    return path


def _factored(doc):
    return next(b for b in doc["benchmarks"] if b["extra_info"]["rank"] is not None)


@pytest.mark.parametrize("change, words", [
    (lambda d: _factored(d)["extra_info"].update(rank=10**30), ["extra_info.rank = 10000", "accepted: an integer"]),
    (lambda d: _factored(d)["extra_info"].update(rank=-3), ["extra_info.rank = -3"]),
    (lambda d: d["benchmarks"][0]["extra_info"].update(d=0), ["extra_info.d = 0"]),
    (lambda d: d["benchmarks"][0]["stats"].update(data=["fast", "slow"]), ["stats.data[0] = 'fast'"]),
    (lambda d: d["benchmarks"][0]["stats"].update(data=[float("nan"), 1e-5]), ["stats.data[0] = nan"]),
    (lambda d: d["benchmarks"][0]["stats"].update(data=[-1e-5, 1e-5]), ["stats.data[0] = -1e-05"]),
    (lambda d: d["benchmarks"][0]["stats"].update(median=float("inf")), ["stats.median = inf"]),
    (lambda d: d["benchmarks"][0]["stats"].update(median=-2.0), ["stats.median = -2.0"]),
    (lambda d: d["benchmarks"].append(copy.deepcopy(d["benchmarks"][0])), ["appears twice"]),
])
@pytest.mark.parametrize("command", ["csv", "report", "history", "gate", "baseline"])
def test_impossible_values_in_a_result_file_are_named(files, capsys, change, words, command):
    path = _broken(files, change)
    argv = {"csv": ["csv", path, "-o", files / "out.csv"], "report": ["report", path, "-o", files / "rep"],
            "history": ["history", path, "-o", files / "hist"],
            "gate": ["gate", path, "--baseline", files / "bl" / "mine.json"],
            "baseline": ["baseline", path, "--name", "b2", "--dir", files / "bl"]}[command]
    before = digest(files)
    code, err = run(argv, capsys)
    assert_refused(code, err, str(path), *words)
    assert digest(files) == before


# -- model checkpoints and their outputs --------------------------------------------------------------
def test_a_model_index_is_checked_before_anything_is_read(tmp_path, capsys):
    from safetensors.numpy import save_file

    folder = tmp_path / "model"
    folder.mkdir()
    save_file({"a.weight": np.ones((8, 4), np.float32)}, str(folder / "shard.safetensors"))
    save_file({"b.weight": np.ones((8, 4), np.float32)}, str(tmp_path / "other.safetensors"))
    index = folder / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": ["a.weight"]}))
    code, err = run(["model", folder, "--no-timing"], capsys)
    assert_refused(code, err, "'weight_map' is list", "accepted: an object")
    index.write_text(json.dumps({"weight_map": {"a.weight": "shard.safetensors", "b.weight": "../other.safetensors"}}))
    code, err = run(["model", folder, "--no-timing"], capsys)
    assert_refused(code, err, "'../other.safetensors' is not a file of the model folder")


def test_a_bare_tensor_is_not_a_layer(tmp_path, capsys):
    import torch

    torch.save(torch.ones(8, 4), tmp_path / "bare.pt")
    code, err = run(["model", tmp_path / "bare.pt", "--no-timing"], capsys)
    assert_refused(code, err, "bare tensor, not a state dict")


@pytest.mark.parametrize("value", ["0", "-3", "x"])
def test_max_rank_is_a_positive_integer(tmp_path, capsys, value):
    code, err = run(["model", tmp_path / "m.safetensors", "--max-rank", value, "--no-timing"], capsys)
    assert code == 2 and "--max-rank" in err and "Traceback" not in err


def test_model_outputs_are_checked_before_the_analysis(tmp_path, capsys):
    from safetensors.numpy import save_file

    save_file({"a.weight": np.ones((8, 4), np.float32)}, str(tmp_path / "m.safetensors"))
    (tmp_path / "plan.json").write_text("{}")
    (tmp_path / "f").write_text("x")
    for argv, words in ((["--json", tmp_path / "plan.json"], ["--json", "exists"]),
                        (["--save", tmp_path / "m.safetensors"], ["--save", "one of the command's inputs"]),
                        (["--report", tmp_path / "f"], ["--report", "is a file"]),
                        (["--e2e"], ["needs"])):
        before = digest(tmp_path)
        code, err = run(["model", tmp_path / "m.safetensors", "--no-timing", *argv], capsys)
        assert_refused(code, err, *words)
        assert "[model]" not in err and "layer(s) analysed" not in err  # refused before any analysis
        assert digest(tmp_path) == before


# -- A/B: checked before timing -----------------------------------------------------------------------
def test_ab_checks_its_interpreters_and_output_before_timing(tmp_path, capsys):
    repo = Path(__file__).resolve().parents[2]
    code, err = run(["ab", "HEAD", ".", "--base-python", "/bin/true", "--repo", repo], capsys)
    assert_refused(code, err, "--base-python /bin/true: not a Python that can run the suite")
    (tmp_path / "file").write_text("x")
    code, err = run(["ab", "HEAD", ".", "--output", tmp_path / "file", "--repo", repo], capsys)
    assert_refused(code, err, "--output", "is a file")
    assert "[ab] round" not in err


# -- exit codes ---------------------------------------------------------------------------------------
def test_an_internal_error_is_exit_3_with_where_to_report_it(files, capsys, monkeypatch):
    from lowrank.store import export

    def broken(_doc):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(export, "github_action_benchmark", broken)
    code, err = run(["export", files / "run.json", "-o", files / "ex"], capsys)
    assert code == 3, "a crash must never read as a verdict (1) or as bad input (2)"
    assert "internal error: ZeroDivisionError: a bug" in err and "This is a bug" in err and "Traceback" not in err
