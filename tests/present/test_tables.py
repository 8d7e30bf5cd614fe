"""Compare-style tables: rows rank, columns shape, one unit per table in the footer."""

import pytest

from lowrank.judge import speedups
from lowrank.present import tables
from lowrank.present.tables import Table
from tests import synthetic as data


def _speedup_table():
    rows = data.curve({4: 4.0, 64: 2.0, 256: 0.5}, dense_median=1e-3)
    rows += data.curve({4: 3.0, 16: 1.5}, dense_median=1e-4, d=256, k=256)
    rows[-1]["iqr"] = rows[-1]["median"] * 0.5  # one noisy timing
    rows[-1]["rel_iqr"] = 0.5
    sp = speedups.speedups(data.frame(rows), n_boot=0)
    return tables.speedup_table(sp, speedups.break_even(sp), "Speedup")


def test_speedup_table_rows_are_ranks_columns_shapes_smallest_first():
    t = _speedup_table()
    assert t.columns == ("256×256", "1024×1024")
    labels = [label for label, _ in t.rows]
    assert labels == ["4", "16", "64", "256", "break-even", "r* = dk/(d+k)"]
    cells = dict(t.rows)
    assert cells["4"] == ("3.00", "4.00")
    assert cells["16"] == ("1.50!", tables.MISSING)  # noisy mark; not measured at 1024²
    assert cells["256"] == (tables.MISSING, "0.500")
    assert cells["break-even"] == ("> 16", "128")
    assert cells["r* = dk/(d+k)"] == ("128", "512")
    assert "dense median / factored median" in t.footer


def test_table_renders_as_text_markdown_and_html():
    t = _speedup_table()
    text = t.to_text().splitlines()
    assert text[0].startswith("[") and "Speedup" in text[0] and text[0].endswith("]")
    assert text[1].split("|")[1].strip() == "256×256"
    md = t.to_markdown()
    assert "| rank | 256×256 | 1024×1024 |" in md and "|---|---:|---:|" in md and "<sub>Unit:" in md
    page = t.to_html()
    assert page.count("<tr>") == len(t.rows) + 2  # header, body rows, footer
    assert 'class="noisy"' in page and 'class="good"' in page and 'class="bad"' in page
    assert "<tfoot>" in page


def test_html_escapes_cells():
    t = Table("a<b", "r", ("x&y",), (("<script>", ("1 < 2",)),), "f>g")
    page = t.to_html()
    assert "<script>" not in page and "&lt;script&gt;" in page and "a&lt;b" in page and "x&amp;y" in page


@pytest.mark.parametrize(
    "values, unit", [([3e-6, 2e-3], "µs"), ([5e-9, 1e-6], "ns"), ([0.002, 0.5], "ms"), ([2.0, 30.0], "s")]
)
def test_one_time_unit_per_table_chosen_from_the_smallest_value(values, unit):
    assert tables.pick_unit(values, tables.TIME_UNITS)[0] == unit


def test_time_table_has_dense_first_and_the_unit_in_the_footer():
    rows = data.curve({4: 4.0, 64: 2.0}, dense_median=8e-6)
    t = tables.time_table(data.frame(rows), "Times")
    assert [label for label, _ in t.rows] == ["dense", "4", "64"]
    assert dict(t.rows)["dense"] == ("8",) and dict(t.rows)["4"] == ("2",)
    assert "µs" in t.footer


@pytest.mark.parametrize(
    "x, text", [(0.0841, "0.0841"), (6.548, "6.55"), (558012.0, "558,012"), (float("nan"), tables.MISSING), (0, "0")]
)
def test_number_formatting(x, text):
    assert tables.fmt_sig(x) == text


def test_bytes_and_ratios_read_naturally():
    assert tables.fmt_bytes(2048) == "2 KiB" and tables.fmt_bytes(256 * 2**20) == "256 MiB"
    assert [tables.fmt_ratio(v) for v in (274.4, 52.13, 5.619, 0.8712)] == ["274", "52.1", "5.62", "0.871"]


def test_break_even_table_marks_none_in_range():
    rows = data.curve({16: 4.0, 64: 2.0, 256: 0.5}) + data.curve({16: 0.9, 64: 0.5}, batch=32)
    be = speedups.break_even(speedups.speedups(data.frame(rows), n_boot=0))
    t = tables.break_even_table(be)
    cells = dict(t.rows)
    assert cells["r* (theory)"] == ("512",)
    assert cells["numpy float32 n=1 warm"] == ("128 (0.25×)",)
    assert cells["numpy float32 n=32 warm"] == ("< 16",)
