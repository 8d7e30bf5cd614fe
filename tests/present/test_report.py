"""The report and the run comparison, built from the real quick run of the suite."""

import base64
import hashlib
import json
import re

import pytest

from lowrank.judge.speedups import STATUS_REGRESSION
from lowrank.present import report

PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = ["speedup_vs_rank.png", "error_vs_rank.png", "time_vs_size.png", "memory_vs_rank.png",
           "crossover_map.png", "roofline.png"]


@pytest.fixture(scope="module")
def built(quick_result, tmp_path_factory):
    digest = hashlib.sha256(quick_result.read_bytes()).hexdigest()
    out = tmp_path_factory.mktemp("report")
    lines = []
    result = report.write_report([quick_result], out, log=lines.append)
    return result, lines, digest


@pytest.fixture(scope="module")
def slower_copy(quick_result, tmp_path_factory):
    """The quick run again, a day later, with the numpy float32 batch-1 timings 1.5× slower."""
    doc = json.loads(quick_result.read_text())
    doc["datetime"] = "2099-01-01T00:00:00+00:00"
    slowed = 0
    for b in doc["benchmarks"]:
        p = b["params"]
        if p["backend"] == "numpy" and p["dtype"] == "float32" and p["batch"] == 1:
            for key in ("median", "min", "max", "mean", "q1", "q3", "iqr"):
                b["stats"][key] *= 1.5
            b["stats"]["data"] = [v * 1.5 for v in b["stats"]["data"]]
            slowed += 1
    path = tmp_path_factory.mktemp("later") / "later_quick.json"
    path.write_text(json.dumps(doc))
    return path, slowed


def test_report_writes_markdown_html_figures_and_csvs(built):
    result, lines, _ = built
    out = result.out_dir
    assert result.markdown == out / "report.md" and result.html == out / "report.html"
    assert [p.name for p in result.figures] == FIGURES
    for path in result.figures:
        head = path.read_bytes()[:8]
        assert head == PNG and path.stat().st_size > 10_000, path
    assert sorted(p.name for p in result.csvs) == ["break_even.csv", "results.csv", "roofline.csv", "speedups.csv"]
    assert any(line.startswith("[report] figure") for line in lines) and any("wrote" in line for line in lines)


def test_report_never_touches_the_result_file(built, quick_result):
    _, _, digest = built
    assert hashlib.sha256(quick_result.read_bytes()).hexdigest() == digest


def test_markdown_answers_the_questions(built, quick_result):
    result, _, _ = built
    md = result.markdown.read_text()
    doc = json.loads(quick_result.read_text())
    for heading in ("## Key findings", "## Machine and versions", "## Break-even rank", "## Figures",
                    "## Speedup tables", "## What each rank costs: error and memory", "## Roofline", "## Noisy cases",
                    "## Appendix: median times", "## Files"):
        assert heading in md, heading
    versions = doc["machine_info"]["lowrank_bench"]["versions"]
    assert versions["numpy"] in md and versions["torch"] in md
    assert doc["machine_info"]["lowrank_bench"]["fingerprint"] in md
    findings = md.split("## Key findings")[1].split("##")[0]
    assert "Largest speedup" in findings and "Break-even on numpy" in findings and "Break-even on torch-cpu" in findings
    assert "r*" in findings and "relative Frobenius error" in findings
    for name in FIGURES:
        assert f"](figures/{name})" in md
    # Compare-style tables: rows rank, columns shape, the unit in the footer.
    assert "| rank | 256×256 | 1024×256 |" in md and "<sub>Unit: speedup" in md and "Times are medians in" in md
    assert "**Speedup — numpy float32, batch 1, cold cache**" in md


def test_html_is_self_contained(built):
    result, _, _ = built
    page = result.html.read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len(FIGURES)
    assert all(base64.b64decode(img)[:8] == PNG for img in images)
    assert 'src="figures/' not in page and "<table" in page and page.rstrip().endswith("</html>")


def test_csv_rows_match_the_run(built, quick_result):
    import pandas as pd

    result, _, _ = built
    n = len(json.loads(quick_result.read_text())["benchmarks"])
    assert len(pd.read_csv(result.out_dir / "results.csv")) == n
    sp = pd.read_csv(result.out_dir / "speedups.csv")
    assert {"speedup", "speedup_lo", "speedup_hi", "noisy", "r_star"} <= set(sp.columns)


def test_report_refuses_to_overwrite_an_input(tmp_path, quick_result):
    import shutil

    victim = tmp_path / "results.csv"
    shutil.copy(quick_result, victim)  # a result file whose name a report output would take
    from lowrank.store.load import ResultFileError

    with pytest.raises(ResultFileError, match="would overwrite this result file"):
        report.write_report([victim], tmp_path)


def test_two_runs_add_the_comparison_and_either_can_be_the_subject(quick_result, slower_copy, tmp_path):
    later, _ = slower_copy
    result = report.write_report([quick_result, later], tmp_path)
    assert result.run_id == "later_quick"  # the newest run is the report's subject by default
    assert [p.name for p in result.figures][-1] == "run_comparison.png"
    md = result.markdown.read_text()
    assert "## Compared with the other runs" in md and "regressions" in md
    assert f"`later_quick` against `{quick_result.stem}`" in md
    # The older run by a unique prefix of its id, written over the first report.
    again = report.write_report([quick_result, later], tmp_path, run_id=quick_result.stem[:12], n_boot=0)
    assert again.run_id == quick_result.stem and again.markdown == result.markdown
    assert f"`{quick_result.stem}` against `later_quick`" in again.markdown.read_text()
    from lowrank.store.load import ResultFileError

    with pytest.raises(ResultFileError, match="matches no run"):
        report.write_report([quick_result, later], tmp_path, run_id="nope")


def test_comparison_finds_the_slowed_cases(quick_result, slower_copy, tmp_path):
    later, slowed = slower_copy
    res = report.write_comparison(quick_result, later, tmp_path)
    t = res.comparison.table
    assert len(t) == len(json.loads(quick_result.read_text())["benchmarks"]) and slowed > 0
    flagged = t[t["status"] == STATUS_REGRESSION]
    assert len(flagged) > 0
    assert (flagged["backend"] == "numpy").all() and (flagged["batch"] == 1).all()
    assert (flagged["ratio"].round(6) == 1.5).all()
    untouched = t[(t["backend"] != "numpy")]
    assert (untouched["ratio"] == 1.0).all() and not (untouched["status"] == STATUS_REGRESSION).any()
    assert res.figure.read_bytes()[:8] == PNG
    assert "Regressions" in res.text and "B/A — numpy float32, batch 1, warm cache" in res.text
    assert res.markdown.exists() and res.html.exists() and res.csv.exists()


def test_a_run_of_a_few_selected_cases_gets_its_report(quick_result, tmp_path):
    """``-k`` can leave every panel of a figure without a series (here: one shape, one rank, no dense
    case); the report is still written (it once failed in matplotlib's legend, with ncol=0)."""
    doc = json.loads(quick_result.read_text())
    doc["benchmarks"] = [b for b in doc["benchmarks"] if "-d0256-k0256-r0004-" in b["param"]]
    assert doc["benchmarks"] and not any(b["extra_info"]["variant"] == "dense" for b in doc["benchmarks"])
    run = tmp_path / "selected.json"
    run.write_text(json.dumps(doc))
    result = report.write_report([run], tmp_path / "out", log=lambda _: None)
    assert (tmp_path / "out" / "figures" / "time_vs_size.png").read_bytes().startswith(PNG)
    assert result.markdown.is_file()


def test_the_report_says_how_many_processes_timed_the_short_pairs(quick_result, built, tmp_path):
    """A default run of timing engine 3 timed warm pairs of short calls in more processes than the rest; the
    machine table and the between-processes finding say so. Today's runs time every case in every process,
    and their figure pools every process's rounds."""
    from lowrank.store import load

    plain = built[0].markdown.read_text()
    assert "for warm pairs of short calls" not in plain and "a warm pair of short calls in" not in plain
    assert "The figure reported is the median of every process's rounds pooled" in plain
    doc = json.loads(quick_result.read_text())
    timing = doc["machine_info"]["lowrank_bench"]["timing"]
    timing["short_pair_processes"] = timing["processes"] + 2
    timing["engine"] = 3
    run = tmp_path / "more.json"
    run.write_text(json.dumps(doc))
    # the same sections of the report (its figures are tested above), from the changed file
    loaded = load.load([run])
    findings = report.key_findings(report.analyse(loaded, n_boot=0))
    text = report._machine_table(loaded.runs).to_markdown() + "\n".join(findings)
    n = timing["short_pair_processes"]
    assert f"{timing['processes']} process(es) per backend ({n} for warm pairs of short calls)" in text
    assert f"(a warm pair of short calls in {n}:" in text
    assert "least disturbed process's median (timing engine 3)" in text
