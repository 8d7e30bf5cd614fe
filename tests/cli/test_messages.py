"""Messages that say what is wrong: each refusal is exit 2 and one line naming the value, what it is and what
is accepted, never a message about something else ("no such file" for a folder, "no case to follow" for runs
of another metric)."""

from __future__ import annotations

import numpy as np
import pytest

from lowrank import cli


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
