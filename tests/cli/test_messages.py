"""Messages that say what is wrong: each refusal is exit 2 and one line naming the value, what it is and what
is accepted, never a message about something else ("no such file" for a folder, "no case to follow" for runs
of another metric)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from lowrank import cli
from tests import recorded
from tests.synthetic import bench, document, write


def run(argv, capsys) -> tuple[int, str, str]:
    """``lowrank-bench ARGV`` in this process: its exit code, stdout and stderr (argparse's exit included)."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(code, err, *words) -> str:
    """Exit 2, no traceback, one error line (progress lines aside) holding every word; the line."""
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def weights(tmp_path):
    """A small .safetensors checkpoint with one 64x48 weight."""
    from safetensors.numpy import save_file

    path = tmp_path / "model.safetensors"
    save_file({"w": np.random.default_rng(0).standard_normal((64, 48)).astype(np.float32)}, str(path))
    return path


# -- model --dtype ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra, words", [
    (["--dtype", "float7", "--no-timing"], ["--dtype 'float7'", "accepted with --backend numpy: float32, float64"]),
    (["--dtype", "float7"], ["--dtype 'float7'", "float32, float64"]),
    (["--dtype", "float16", "--no-timing"], ["--dtype 'float16'", "--backend numpy"]),
    (["--dtype", "bfloat16", "--backend", "torch-cpu", "--no-timing"], ["--dtype 'bfloat16'", "--backend torch-cpu"]),
    (["--dtype", "int8", "--backend", "torch-cuda", "--no-timing"],
     ["--dtype 'int8'", "float32, float64, float16, bfloat16"]),
])
def test_model_dtype_is_checked_whatever_the_other_flags(weights, capsys, extra, words):
    code, out, err = run(["model", weights, *extra], capsys)
    refused(code, err, *words)
    assert out == ""  # refused before any analysis


@pytest.mark.parametrize("extra", [["--dtype", "float64"], ["--dtype", "float16", "--backend", "torch-cuda"]])
def test_model_dtype_that_the_backend_times_is_accepted(weights, capsys, extra):
    code, out, err = run(["model", weights, "--no-timing", *extra], capsys)
    assert code == 0, err
    assert "1 layer(s) analysed" in out


# -- model --calibration ------------------------------------------------------------------------------------
@pytest.mark.parametrize("source, what", [
    ("folder", "a folder"),
    ("/dev/null", "not a regular file"),
    ("missing.txt", "no such file"),
])
def test_calibration_that_is_not_a_text_file_says_what_it_is(weights, tmp_path, capsys, source, what):
    target = tmp_path / source if not source.startswith("/") else source
    if source == "folder":
        target.mkdir()
    code, out, err = run(["model", weights, "--no-timing", "--calibration", target], capsys)
    line = refused(code, err, f"--calibration {target}: {what}", "accepted: a text file (one sample a line)")
    if what != "no such file":
        assert "no such file" not in line


# -- model: weights too small to factor -------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 1), (1, 64), (64, 1)])
def test_a_weight_too_small_to_factor_is_named_with_the_smallest_accepted_shape(tmp_path, capsys, shape):
    from safetensors.numpy import save_file

    path = tmp_path / "tiny.safetensors"
    save_file({"w": np.ones(shape, dtype=np.float32)}, str(path))
    code, out, err = run(["model", path, "--no-timing"], capsys)
    line = refused(code, err, f"w: shape {shape[0]}x{shape[1]} is too small to factor, smaller than 2x2",
                   "accepted: 2-D floating-point weights of 2x2 or larger")
    assert "no 2-D floating weight" not in line


def test_every_reason_a_checkpoint_has_nothing_to_factor_is_given(tmp_path, capsys):
    from safetensors.numpy import save_file

    path = tmp_path / "mixed.safetensors"
    save_file({"bias": np.ones(4, dtype=np.float32), "ids": np.ones((4, 4), dtype=np.int64),
               "tiny": np.ones((1, 8), dtype=np.float32)}, str(path))
    code, _, err = run(["model", path, "--no-timing"], capsys)
    refused(code, err, "none of its 3 tensors can be factored", "bias: 1-D", "ids: dtype int64 is not floating point",
            "tiny: shape 1x8 is too small to factor")


# -- history --metric on runs of another metric ----------------------------------------------------------------
def _timed_runs(folder, n=3):
    for i in range(n):
        write(folder / f"run{i}.json", document([bench(rank=None, median=8e-6), bench(rank=4, median=2e-6)],
                                                datetime=f"2026-01-01T0{i}:00:00+00:00", commit=f"{i}" * 40))


def _counted_runs(folder, n=2):
    base = recorded.run("counts-aa", 1)
    for i in range(n):
        doc = copy.deepcopy(base)
        doc["commit_info"] = {**(doc.get("commit_info") or {}), "id": f"{i}" * 40, "dirty": False}
        doc["datetime"] = f"2026-02-01T0{i}:00:00+00:00"
        (folder / f"counted{i}.json").write_text(json.dumps(doc))


def test_history_of_timed_runs_by_instructions_names_the_metric_they_have(tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    _timed_runs(runs)
    code, _, err = run(["history", runs, "--metric", "instructions", "-o", tmp_path / "h"], capsys)
    line = refused(code, err, "--metric instructions: the 3 run(s) read are timed runs (metric time)",
                   "accepted for them: --metric time or ratio")
    assert "no case to follow" not in line
    assert not (tmp_path / "h").exists()


@pytest.mark.parametrize("metric", ["time", "ratio"])
def test_history_of_counted_runs_by_time_names_the_metric_they_have(tmp_path, capsys, metric):
    runs = tmp_path / "runs"
    runs.mkdir()
    _counted_runs(runs)
    code, _, err = run(["history", runs, "--metric", metric, "-o", tmp_path / "h"], capsys)
    refused(code, err, f"--metric {metric}: the 2 run(s) read are counted runs (metric instructions)",
            "accepted for them: --metric instructions")


def test_history_with_runs_of_the_metric_still_names_a_k_that_matches_nothing(tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    _timed_runs(runs)
    _counted_runs(runs)
    code, _, err = run(["history", runs, "--metric", "instructions", "-k", "nothing-like-it", "-o", tmp_path / "h"],
                       capsys)
    refused(code, err, "no case matches -k 'nothing-like-it'")
