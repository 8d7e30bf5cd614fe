"""A causal LM measured at several --params fractions: the plan's JSON, the report's table and answer, its
perplexity and speed figures, and the refusal of a list of fractions where one plan is made."""

import importlib.util
import json

import pytest

from tests.cli.test_messages import refused, run
from tests.model import causal_models

pytestmark = pytest.mark.skipif(importlib.util.find_spec("transformers") is None,
                                reason="needs transformers (the e2e extra; scripts/setup_env.sh installs it)")

TINY = ["--window", "64", "--eval-tokens", "128", "--calibration-tokens", "128", "--prompt-tokens", "8",
        "--speed-seconds", "0.01"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("causal_report")
    causal_models.build(root / "llama", "llama")  # grouped-query attention: k_proj and v_proj at a shape of their own
    (root / "eval.txt").write_text(causal_models.TEXT[:4000])
    (root / "cal.txt").write_text(causal_models.TEXT[4000:8000])
    return root


@pytest.fixture(scope="module")
def measured(models, tmp_path_factory):
    """One run at two fractions with the suite timed (predictions), a report and the JSON: (json, report, out)."""
    import contextlib
    import io

    out, printed = tmp_path_factory.mktemp("measured"), io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = __import__("lowrank.cli", fromlist=["main"]).main(
            [str(a) for a in ["model", models / "llama", "--params", "0.9,0.6", "--e2e", "--calibration",
                              models / "cal.txt", "--eval-text", models / "eval.txt", *TINY, "--json",
                              out / "plan.json", "--report", out / "report"]])
    assert code == 0
    return json.loads((out / "plan.json").read_text()), out / "report", printed.getvalue()


@pytest.mark.timed
def test_every_method_at_every_fraction_is_measured_once_the_original_once(measured):
    doc, _, printed = measured
    e = doc["causal_lm"]
    assert e["fractions"] == [0.9, 0.6]
    keys = [f"{m}@{f}" for f in ("0.9", "0.6") for m in ("svd", "asvd", "whitened")]
    assert list(e["methods"]) == keys
    for key, row in e["methods"].items():
        method, fraction = key.split("@")
        assert row["method"] == method and row["params_requested"] == float(fraction)
        assert row["plan_totals"]["params_fraction"] <= float(fraction) + 1e-9  # the budget is kept
        assert f"at {float(fraction):.0%}" in row["label"]
        speed = e["speed"]["models"][key]
        assert speed["original_s"]["decode"] > 0
        # predicted from the suite's times at the model's shapes (how close to the measured, the machine decides)
        predicted = speed["predicted"]
        assert predicted["prefill_s"] > 0 and predicted["decode_s"] > 0
        assert predicted["decode_speedup"] == pytest.approx(speed["original_s"]["decode"] / predicted["decode_s"])
    assert set(e["speed"]["models"]) == {"original", *keys}
    assert "cold cache at n = 1" in e["speed"]["prediction"]
    assert printed.count("; predicted ") == len(keys)
    share = e["speed"]["suite_share"]  # the suite's dense linears against the measured step: the premise's check
    assert set(share) == {"decode", "prefill"} and all(v > 0 for v in share.values())
    assert len(e["answer"]) == 2
    # the command's own plan (the layers and totals of the document) is the first fraction's data-aware one
    assert doc["params_fraction"] == 0.9
    assert doc["totals"]["params_planned"] == e["methods"]["whitened@0.9"]["plan_totals"]["params_planned"]


@pytest.mark.timed
def test_the_report_holds_the_table_the_answer_and_both_figures(measured):
    doc, report, _ = measured
    md = (report / "report.md").read_text()
    assert "Perplexity and speed of the original and every factored model" in md
    for label in ("plain SVD at 90%", "activation-scaled SVD (ASVD-style) at 60%", "data-aware (whitened SVD) at 60%"):
        assert f"| {label} |" in md, label
    assert "decode, predicted" in md and "prefill tokens/s" in md
    assert "The answer, on this machine" in md
    for row in doc["causal_lm"]["answer"]:
        assert row["text"] in md
    figures = {p.name: p for p in (report / "figures").glob("*.png")}
    assert {"model_perplexity_vs_params.png", "model_speed_vs_params.png"} <= set(figures)
    assert all(figures[n].stat().st_size > 20_000 for n in ("model_perplexity_vs_params.png",
                                                             "model_speed_vs_params.png"))
    assert "Measured " in md and doc["commit"] in md  # the date, commit and machine


def _doc():
    """A causal-LM result as the pipeline writes it, two fractions of two methods, with predictions."""
    def speed(decode, prefill):
        return {"decode_s": decode, "prefill_s": prefill, "decode_speedup": 0.01 / decode,
                "decode_speedup_range": [0.9, 1.1], "prefill_speedup": 0.1 / prefill,
                "predicted": {"decode_s": decode * 0.9, "prefill_s": prefill * 0.9}}

    methods, models = {}, {"original": {"decode_s": 0.01, "prefill_s": 0.1, "decode_speedup": 1.0,
                                        "decode_speedup_range": [1, 1], "prefill_speedup": 1.0}}
    for f in (0.9, 0.5):
        for m, ppl in (("svd", 1e4), ("whitened", 30.0 / f)):
            key = f"{m}@{f:g}"
            methods[key] = {"perplexity": ppl, "label": f"{m} at {f:.0%}", "method": m, "params_requested": f,
                            "plan_totals": {"params_fraction": f, "model_params_fraction": f + 0.05}}
            models[key] = speed(0.01 * f, 0.1 * f)
    return {"original": {"perplexity": 20.0}, "methods": methods, "scored_tokens": 1000, "window": 64,
            "stride": 64, "tokens": 1024, "text": "t", "definition": "d",
            "speed": {"models": models, "prompt_tokens": 16, "cache_tokens": 16, "threads": 1, "rounds": 3,
                      "estimator": "median"},
            "answer": [{"budget": 1.5, "text": "a"}, {"budget": 2.0, "text": "b"}]}


def test_the_perplexity_figure_has_a_line_per_method_log_y_and_the_original():
    from lowrank.model import report

    ax, = report.perplexity_figure(_doc()).axes
    assert ax.get_yscale() == "log"
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["plain SVD"].get_xdata()) == [0.5, 0.9]  # by parameters kept
    assert list(lines["data-aware (whitened SVD)"].get_ydata()) == [60.0, 30.0 / 0.9]
    assert "original (20.00)" in lines


def test_the_speed_figure_shows_decode_and_prefill_measured_and_predicted():
    from lowrank.model import report

    decode, prefill = report.speed_figure(_doc()).axes
    for ax, original in ((decode, 10.0), (prefill, 160.0)):
        lines = ax.get_lines()
        assert sum(line.get_label().endswith("measured") and "original" not in line.get_label()
                   for line in lines) == 2
        assert sum(line.get_label() == "predicted" for line in lines) == 2
        assert any(list(line.get_ydata()) == [original, original] for line in lines)  # the original's level
    measured = next(line for line in decode.get_lines() if line.get_label() == "plain SVD, measured")
    assert list(measured.get_ydata()) == pytest.approx([5.0, 9.0])  # ms per token at 50% and 90%


def test_a_list_of_fractions_is_refused_where_one_plan_is_made(models, tmp_path, capsys):
    refused(*run(["model", models / "llama", "--params", "0.9,0.8", "--no-timing"], capsys)[::2],
            "--params 0.9,0.8", "--e2e", "give one fraction")
    refused(*run(["model", models / "llama", "--params", "0.9,0.8", "--no-timing", "--e2e", "--calibration",
                  models / "cal.txt", "--eval-text", models / "eval.txt", "--window", "64", "--save",
                  tmp_path / "f.safetensors"], capsys)[::2], "--save", "one fraction")
    refused(*run(["model", models / "llama", "--params", "0.9,,0.8", "--no-timing"], capsys)[::2],
            "empty fraction", "accepted")
    refused(*run(["model", models / "llama", "--params", "0.9,1.5", "--no-timing"], capsys)[::2],
            "out of range")
    refused(*run(["model", models / "llama", "--params", "0.9,0.9", "--no-timing"], capsys)[::2],
            "given twice")


def test_a_latency_target_the_model_or_the_options_do_not_have_is_refused(models, tmp_path, capsys):
    import numpy as np
    from safetensors.numpy import save_file

    save_file({"a.weight": np.eye(8, dtype=np.float32)}, str(tmp_path / "m.safetensors"))
    refused(*run(["model", tmp_path / "m.safetensors", "--latency", "0.8", "--latency-target", "decode"], capsys)[::2],
            "--latency-target decode", "not a causal LM", "no decode step", "accepted for this model: layers")
    refused(*run(["model", models / "llama", "--latency", "0.8", "--latency-target", "prefill"], capsys)[::2],
            "--latency-target prefill", "add --e2e")
    refused(*run(["model", models / "llama", "--params", "0.8", "--latency-target", "decode"], capsys)[::2],
            "--latency-target decode", "give --latency F too")
    refused(*run(["model", models / "llama", "--latency", "0.8", "--latency-target", "layers", "--e2e",
                  "--calibration", models / "cal.txt", "--eval-text", models / "eval.txt", "--window", "64"],
                 capsys)[::2], "--latency-target layers", "accepted with --e2e: decode or prefill")


@pytest.mark.timed
def test_a_decode_budget_is_planned_on_the_suites_times_and_measured_with_its_prediction(models, tmp_path, capsys):
    """The tiny model spends almost all of its decode step outside its linears: a budget of 0.9 is refused naming
    the smallest fraction the suite's times allow; the whole budget (1.0) keeps every layer dense, and each
    method's predicted decode time stands beside the measured one."""
    common = ["--e2e", "--calibration", models / "cal.txt", "--eval-text", models / "eval.txt", *TINY]
    line = refused(*run(["model", models / "llama", "--latency", "0.5", *common], capsys)[::2],
                   "--latency 0.5 (decode)", "accepted: a fraction above")
    assert "of the original's measured decode time" in line
    out_json = tmp_path / "plan.json"
    code, out, err = run(["model", models / "llama", "--latency", "1", *common, "--json", out_json], capsys)
    assert code == 0, err
    assert "decode latency budget 1 of the original's measured decode time" in out
    assert out.count("decode predicted ") == 3 and out.count("meets the budget") + out.count("MISSES") == 3
    doc = json.loads(out_json.read_text())
    assert doc["policy"] == "latency" and doc["latency_target"] == "decode"
    lp = doc["causal_lm"]["latency_plan"]
    assert lp["target"] == "decode" and lp["fraction"] == 1 and lp["budget_s"] == pytest.approx(lp["original_s"])
    assert lp["layers_fraction"] == pytest.approx(1.0)
    for method in ("svd", "asvd", "whitened"):
        m = lp["methods"][method]
        assert m["layers_factored"] == 0 and m["predicted_s"] == pytest.approx(lp["original_s"])
        assert m["measured_s"] > 0 and m["measured_fraction"] > 0
        assert m["meets_budget"] == (m["measured_fraction"] <= 1)
