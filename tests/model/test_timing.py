"""A user's checkpoint: formats read alike, spectra against Eckart–Young, rank plans, bad input, MiniLM."""

import json
import re

import numpy as np
import pytest

from lowrank import cli, generators
from lowrank.errors import LowRankValueError
from lowrank.model import analysis as model
from lowrank.model import timing


@pytest.mark.timed
def test_speedups_are_measured_by_the_suite_at_the_planned_shapes_and_ranks(tmp_path, capsys):
    from safetensors.numpy import save_file

    sm = generators.SyntheticMatrix.build(128, 96, generators.power_law_spectrum(96), seed=5)
    save_file({"a.weight": sm.W.astype(np.float32), "b.weight": sm.W[::-1].astype(np.float32).copy()},
              str(tmp_path / "m.safetensors"))
    out = tmp_path / "plan.json"
    runs = tmp_path / "runs"
    assert cli.main(["model", str(tmp_path / "m.safetensors"), "--max-error", "0.2", "--json", str(out),
                     "--runs", str(runs)]) == 0
    doc = json.loads(out.read_text())
    factored = [layer for layer in doc["layers"] if layer["rank"] is not None]
    assert factored and all(layer["speedup"] > 0 for layer in factored)
    assert doc["timing"] == {"batch": 1, "backend": "numpy", "dtype": "float32"}
    (run,) = runs.glob("*.json")  # one run of the matvec suite: both layers share the shape and rank
    ids = {b["param"] for b in json.loads(run.read_text())["benchmarks"]}
    # in the worker processes the caller asked for (LOWRANK_BENCH_PROCESSES, this folder's conftest)
    assert json.loads(run.read_text())["machine_info"]["lowrank_bench"]["timing"]["processes"] == 1
    rank = factored[0]["rank"]
    assert ids == {"numpy-float32-d0128-k0096-dense-n001-warm", f"numpy-float32-d0128-k0096-r{rank:04d}-n001-warm"}
    # --min-speedup keeps the layers measured below it dense, and says why (on the measured figures:
    # a second timing run would only measure the machine again)
    analysis = model.analyse_checkpoint(tmp_path / "m.safetensors")
    layers, _ = model.plan(analysis, model.Policy(max_error=0.2))
    speedups = {(*layer["shape"], layer["rank"]): layer["speedup"] for layer in factored}
    low = min(speedups.values()) / 2
    assert [p.rank for p in model.keep_fast_layers(layers, speedups, low)] == [p.rank for p in layers]
    kept = model.keep_fast_layers(layers, speedups, max(speedups.values()) * 2)
    assert all(p.rank is None and "< --min-speedup" in p.reason for p in kept)


@pytest.mark.timed
def test_a_latency_budget_plans_on_a_sweep_and_times_the_plan_again(tmp_path):
    # The whole budget (F = 1): every layer dense is the plan whatever the machine measures, so
    # the test checks the wiring; whether a tighter plan meets its budget is measured, not asserted.
    from safetensors.numpy import save_file

    from lowrank.model import latency

    sm = generators.SyntheticMatrix.build(128, 96, generators.power_law_spectrum(96), seed=5)
    save_file({"a.weight": sm.W.astype(np.float32), "b.weight": sm.W[::-1].astype(np.float32).copy()},
              str(tmp_path / "m.safetensors"))
    out, runs = tmp_path / "plan.json", tmp_path / "runs"
    assert cli.main(["model", str(tmp_path / "m.safetensors"), "--latency", "1", "--json", str(out),
                     "--runs", str(runs)]) == 0
    doc = json.loads(out.read_text())
    assert doc["policy"] == "latency" and all(layer["rank"] is None for layer in doc["layers"])
    lat = doc["latency"]
    assert lat["predicted_fraction"] == pytest.approx(1.0) and lat["budget_s"] == pytest.approx(lat["dense_s"])
    assert lat["measured_fraction"] == pytest.approx(1.0) and lat["meets_budget"] is True  # dense against dense
    assert lat["swept_ranks"] == {"128x96": latency.sweep_ranks((128, 96))}
    sweep, check = sorted(runs.glob("*.json"), key=lambda p: p.stat().st_mtime)
    ranks = lambda p: {b["extra_info"]["rank"] for b in json.loads(p.read_text())["benchmarks"]}  # noqa: E731
    assert ranks(sweep) == {None, *latency.sweep_ranks((128, 96))} and ranks(check) == {None, 1}


@pytest.mark.timed
def test_shapes_of_different_widths_are_timed_in_one_run_each_at_its_own_ranks(tmp_path):
    # A model's k_proj (16x32) beside its wider linears: one suite run; rank 24 is asked for 64x48 only and
    # cannot be 16x32's, rank 4 is asked for 16x32 only and is timed at 64x48 too, but left out there.
    runs = tmp_path / "runs"
    times = timing.measure_times({(64, 48): {24}, (16, 32): {4}}, runs_dir=runs)
    (run,) = runs.glob("*.json")
    timed = {b["param"] for b in json.loads(run.read_text())["benchmarks"]}
    assert "numpy-float32-d0064-k0048-r0004-n001-warm" in timed  # timed by the one run ...
    assert set(times) == {(64, 48, None), (64, 48, 24), (16, 32, None), (16, 32, 4)}  # ... and not returned
    assert set(times.paired) == {(64, 48, 24), (16, 32, 4)}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cache": "hot"}, "cache='hot'; accepted: 'warm', 'cold'"),
    ({"cache": "cold", "batch": 8}, "cache='cold' at batch=8; accepted: 'cold' at batch 1"),
])
def test_measure_times_refuses_a_cache_mode_the_suite_does_not_time(kwargs, message):
    with pytest.raises(LowRankValueError, match=re.escape(message)):
        timing.measure_times({(8, 8): {1}}, **kwargs)


def test_one_run_of_several_batches_and_cache_states_is_read_point_by_point(quick_result):
    """measure_tables reads one suite run at each (batch, cache) point: on a recorded quick run (warm and cold
    cases of the same shapes), each point's table holds exactly that point's medians and paired speedups."""
    doc = json.loads(quick_result.read_text())
    first = doc["benchmarks"][0]["extra_info"]  # one backend and dtype, as a model's timing run has
    doc["benchmarks"] = [b for b in doc["benchmarks"] if (b["extra_info"]["backend"], b["extra_info"]["dtype"])
                         == (first["backend"], first["dtype"])]
    infos = doc["benchmarks"]
    points = {(b["extra_info"]["batch"], b["extra_info"]["cache"]) for b in infos}
    assert len(points) > 1  # the recording mixes points: read whole, it is ambiguous
    with pytest.raises(LowRankValueError, match="several cases of shape"):
        timing.medians(doc)
    for point in points:
        table, paired = timing.medians(doc, point=point), timing.paired_speedups(doc, point)
        at = [b for b in infos if (b["extra_info"]["batch"], b["extra_info"]["cache"]) == point]
        assert table == {(b["extra_info"]["d"], b["extra_info"]["k"], b["extra_info"]["rank"]): b["stats"]["median"]
                         for b in at}
        assert set(paired) <= {key for key in table if key[2] is not None}
