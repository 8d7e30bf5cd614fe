"""scripts/measure_lm_speed.py: what it writes and what it refuses, never whether factoring was faster."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "measure_lm_speed.py"
pytestmark = pytest.mark.skipif(importlib.util.find_spec("transformers") is None,
                                reason="needs transformers (the e2e extra)")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """A 2-layer grouped-query Llama saved as a Hugging Face folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("lm") / "tiny"
    LlamaForCausalLM(LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2,
                                 max_position_embeddings=64)).save_pretrained(folder)
    return folder


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.mark.timed
def test_a_tiny_model_writes_every_fraction_with_date_commit_machine_and_protocol(tiny_folder, tmp_path):
    out = tmp_path / "lm.json"
    proc = _run("--model", tiny_folder, "--fractions", "0.9,0.5", "--prompt", 8, "--cache", 12, "--rounds", 2,
                "--min-run-time", 0.02, "--predict", "none", "--json", out)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert record["date"] and record["commit"] and record["machine"]["cpu"] and record["machine"]["threads"] == 1
    assert record["machine"]["torch"] and record["model_class"] == "LlamaForCausalLM"
    assert record["protocol"]["prompt_length"] == 8 and record["protocol"]["cache_length"] == 12
    assert list(record["fractions"]) == ["1", "0.9", "0.5"]
    for figures in record["fractions"].values():
        assert len(figures["rounds"]) == 2 and figures["prefill_s"] > 0 and figures["decode_s"] > 0
    assert "decode ms/tok" in proc.stdout and record["predicted"] == {}  # the table; no prediction asked for
    again = _run("--model", tiny_folder, "--json", out)
    assert again.returncode == 2 and "exists" in again.stderr  # never overwritten


@pytest.mark.parametrize(("args", "message"), [
    (["--fractions", "0.9,x"], "--fractions '0.9,x'"),
    (["--fractions", "1.5"], "accepted: fractions in (0, 1]"),
    (["--predict", "hot"], "--predict 'hot': accepted: cold, warm"),
])
def test_bad_fractions_are_refused_with_exit_2(args, message, tmp_path):
    proc = _run(*args, "--json", tmp_path / "never.json")
    assert proc.returncode == 2 and message in proc.stderr
    assert not (tmp_path / "never.json").exists()


def test_a_path_that_is_not_a_model_is_one_line_exit_2(tmp_path):
    proc = _run("--model", tmp_path, "--json", tmp_path / "never.json")
    assert proc.returncode == 2 and "accepted: a GGUF file or a Hugging Face causal LM folder" in proc.stderr
