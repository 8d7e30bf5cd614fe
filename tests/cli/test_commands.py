"""``lowrank-bench``: subcommands, help, defaults, exit codes and one-line errors."""

import os
import subprocess
import sys

import pandas as pd
import pytest

from lowrank import cli
from tests import synthetic as data


@pytest.fixture
def small_file(tmp_path):
    """A small, valid run: one shape, dense and three ranks, warm and cold (cheap to plot)."""
    benches = []
    for cache in ("warm", "cold"):
        benches += [data.bench(rank=None, median=8e-6, cache=cache, samples=[8e-6, 8.1e-6, 7.9e-6, 8e-6]),
                    data.bench(rank=4, median=2e-6, cache=cache), data.bench(rank=16, median=5e-6, cache=cache),
                    data.bench(rank=32, median=16e-6, cache=cache)]
    return data.write(tmp_path / "runs" / "20260101-000000_quick_test.json", data.document(benches))


def run_cli(*args, cwd=None):
    """The console script as a user runs it, in a fresh process."""
    return subprocess.run([sys.executable, "-m", "lowrank.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, "MPLBACKEND": "Agg"}, timeout=300)


def test_help_explains_every_subcommand(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in ("report", "compare", "csv"):
        assert name in out
    for name, words in (("report", ["--keep-going", "results/runs", "-o"]), ("compare", ["RUN_A", "RUN_B", "--threshold"]),
                        ("csv", ["CSV", "PATH"])):
        with pytest.raises(SystemExit) as info:
            cli.main([name, "--help"])
        assert info.value.code == 0
        text = capsys.readouterr().out
        assert all(w in text for w in words), (name, text)


def test_subcommands_are_registered_by_small_functions():
    parser = cli.build_parser()
    names = set(parser._subparsers._group_actions[0].choices)
    assert names == {"report", "compare", "csv", "baseline", "gate", "ab", "history", "export", "model", "schema"}
    assert all(callable(r) for r in cli.registrars())


def test_report_command_writes_the_report(small_file, tmp_path, capsys):
    out = tmp_path / "rep"
    assert cli.main(["report", str(small_file), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "report written" in captured.out and (out / "report.html").exists() and (out / "report.md").exists()
    assert "[load]" in captured.err and "[report] figure" in captured.err  # progress lines


def test_report_defaults_to_the_newest_run_and_says_which(small_file, tmp_path, monkeypatch, capsys):
    older = data.write(small_file.parent / "20250101-000000_quick_old.json", data.document(data.small_run()))
    os.utime(older, (1_000_000, 1_000_000))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    (small_file.parent).rename(tmp_path / "results" / "runs")
    assert cli.main(["report"]) == 0
    err = capsys.readouterr().err
    assert "no files given: using the newest result file" in err and "20260101-000000_quick_test.json" in err
    md = (tmp_path / "results" / "report" / "report.md").read_text()
    assert "20260101-000000_quick_test" in md and "20250101-000000_quick_old" not in md


def test_report_without_files_or_results_folder_is_an_input_error(tmp_path):
    res = run_cli("report", cwd=tmp_path)
    assert res.returncode == 2
    assert "results/runs: folder does not exist" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "content, words",
    [("", ["bad.json: file is empty"]), ('{"benchmarks": [', ["bad.json: not valid JSON", "truncated"]),
     ('{"benchmarks": [], "machine_info": {"lowrank_bench": {"schema": "lowrank-bench/99"}}}', ["newer"]),
     # another project's pytest-benchmark JSON: not an empty report with exit 0
     ('{"benchmarks": [{"name": "test_parse", "extra_info": {}, "stats": {"median": 1e-3}}]}',
      ["holds 1 benchmark(s), none of them lowrank-bench's", "test_parse"]),
     ('{"benchmarks": []}', ["holds no benchmark results"])],
)
def test_bad_input_exits_2_with_one_line_naming_the_file(tmp_path, content, words):
    bad = data.write(tmp_path / "bad.json", content)
    res = run_cli("report", bad, "-o", tmp_path / "out")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr + res.stdout
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith("lowrank-bench report: error: ") and str(bad) in line
    for w in words:
        assert w in line


def test_keep_going_reports_the_good_files_and_names_the_bad(small_file, tmp_path, capsys):
    bad = data.write(tmp_path / "runs" / "broken.json", '{"benchmarks": [')
    out = tmp_path / "rep"
    assert cli.main(["report", str(small_file.parent), "-o", str(out)]) == 2
    assert "broken.json" in capsys.readouterr().err
    assert cli.main(["report", str(small_file.parent), "-o", str(out), "--keep-going"]) == 0
    err = capsys.readouterr().err
    assert f"warning: skipped {bad}" in err
    assert "broken.json" in (out / "report.md").read_text()


def test_usage_errors_exit_2():
    assert run_cli().returncode == 2
    res = run_cli("compare", "only_one.json")
    assert res.returncode == 2 and "RUN_B" in res.stderr
    res = run_cli("compare", "a.json", "b.json", "--threshold", "lots")
    assert res.returncode == 2 and "'lots' is not a number" in res.stderr
    res = run_cli("report", "--run", "x", "nowhere.json")
    assert res.returncode == 2 and "nowhere.json: no such file or folder" in res.stderr


def test_compare_prints_tables_and_writes_files(small_file, tmp_path, capsys):
    import json

    doc = json.loads(small_file.read_text())
    for b in doc["benchmarks"]:
        if b["extra_info"]["rank"] == 16:
            b["stats"]["median"] *= 2  # rank 16 got twice as slow
    later = data.write(tmp_path / "later.json", doc)
    out = tmp_path / "cmp"
    assert cli.main(["compare", str(small_file), str(later), "-o", str(out), "--threshold", "5%"]) == 0
    text = capsys.readouterr().out
    assert "B/A — numpy float32, batch 1, warm cache" in text and "2.00 ▲" in text
    assert "Unit: time ratio B/A" in text
    for name in ("comparison.md", "comparison.html", "comparison.csv", "figures/run_comparison.png"):
        assert (out / name).exists(), name
    assert cli.main(["compare", str(small_file.parent), str(later)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_csv_command_writes_the_tidy_table(small_file, tmp_path, capsys):
    target = tmp_path / "t.csv"
    assert cli.main(["csv", str(small_file), "-o", str(target)]) == 0
    assert len(pd.read_csv(target)) == 8
    assert cli.main(["csv", str(small_file), "-o", str(tmp_path / "t.json")]) == 2
    assert "must not be named .json or .json.gz" in capsys.readouterr().err


def test_help_loads_neither_pandas_nor_matplotlib_nor_torch():
    code = ("import sys\nfrom lowrank import cli\ntry:\n    cli.main(['report', '--help'])\n"
            "except SystemExit:\n    pass\nprint([m for m in ('pandas', 'matplotlib', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
