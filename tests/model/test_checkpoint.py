"""A user's checkpoint: formats read alike, spectra against Eckart–Young, rank plans, bad input, MiniLM."""

import json
from pathlib import Path

import numpy as np
import pytest

from lowrank import cli
from lowrank.model import analysis as model
from lowrank.model.checkpoint import open_checkpoint


@pytest.mark.parametrize("kind", ["safetensors", "sharded", "npz", "torch"])
def test_every_format_lists_and_loads_the_same_tensors(checkpoints, tensors, kind):
    arrays, _ = tensors
    ckpt = open_checkpoint(checkpoints[kind])
    infos = {t.name: t for t in ckpt.tensors()}
    assert set(infos) == set(arrays)
    assert infos["block.q.weight"].shape == (64, 48) and infos["block.q.weight"].dtype == "float32"
    assert infos["block.q.weight"].is_matrix and not infos["block.q.bias"].is_matrix and not infos["step"].is_matrix
    np.testing.assert_array_equal(ckpt.load("block.up.weight"), arrays["block.up.weight"])


def _truncated(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    return dst


@pytest.mark.parametrize("make, words", [
    (lambda tmp, c: tmp / "missing.safetensors", "no such file"),
    (lambda tmp, c: (tmp / "empty").mkdir() or tmp / "empty", "holds no weights"),
    (lambda tmp, c: _truncated(c["safetensors"], tmp / "cut.safetensors"), "not a readable safetensors"),
    (lambda tmp, c: (tmp / "w.txt").write_text("hello") and tmp / "w.txt", "unknown format '.txt'"),
    (lambda tmp, c: (tmp / "fake.safetensors").write_text("not a safetensors file at all") and tmp / "fake.safetensors",
     "not a readable safetensors"),
])
def test_bad_checkpoints_get_one_line_naming_the_file(checkpoints, tmp_path, capsys, make, words):
    path = make(tmp_path, checkpoints)
    assert cli.main(["model", str(path), "--no-timing"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and str(path) in err and "Traceback" not in err


def test_the_checkpoint_script_writes_a_sharded_model_the_command_reads(tmp_path, capsys):
    import runpy
    import sys

    out = tmp_path / "synthetic"
    argv = sys.argv
    try:
        sys.argv = ["make_checkpoint.py", str(out), "--blocks", "1", "--hidden", "48", "--ffn", "96"]
        with pytest.raises(SystemExit) as done:
            runpy.run_path(str(Path(__file__).resolve().parents[2] / "scripts" / "make_checkpoint.py"),
                           run_name="__main__")
    finally:
        sys.argv = argv
    assert done.value.code == 0
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert len(index["weight_map"]) == 6 and len(list(out.glob("model-*.safetensors"))) == 6
    analysis = model.analyse_checkpoint(out, max_rank=16, method="randomized")
    shapes = sorted(sp.shape for sp in analysis.spectra)
    assert shapes == sorted([(48, 48)] * 4 + [(96, 48), (48, 96)])
    assert all(not sp.exact and sp.max_rank == 16 for sp in analysis.spectra)
