"""The driver's decisions: which arguments reach the workers, which cases a later pass leaves out."""

import pytest

from benchmarks.engine import driver
from lowrank.record import merging
from tests.benchmarks import tiny_matvec_curve


def test_worker_arguments_drop_the_users_output_options():
    args = ["benchmarks/", "--benchmark-only", "--benchmark-json", "out.json", "-k", "numpy",
            "--benchmark-save=mine", "--benchmark-autosave", "--lowrank-output", "folder"]
    assert driver.worker_args(args) == ["benchmarks/", "--benchmark-only", "-k", "numpy"]


def _doc(*cases):
    return {"benchmarks": [{"fullname": name, "extra_info": {"call_s": call_s}} for name, call_s in cases]}


def test_cases_with_calls_of_the_threshold_or_more_are_timed_in_pass_one_only(tmp_path):
    doc = _doc(("b.py::bench[gemm-n512]", 0.35), ("b.py::bench[gemv-n1]", 2e-5), ("b.py::bench[edge]", 0.1),
               ("b.py::bench[untimed]", None))
    long_cases = driver.first_pass_only(doc, 0.1)
    assert long_cases == ["b.py::bench[gemm-n512]", "b.py::bench[edge]"]
    listing = tmp_path / "first-pass-only-numpy.txt"
    listing.write_text("\n".join(long_cases))
    later = {driver.WORKER_ENV: "2/numpy", driver.FIRST_PASS_ONLY_ENV: str(listing)}
    assert driver.leaves_out("b.py::bench[gemm-n512]", later)
    assert not driver.leaves_out("b.py::bench[gemv-n1]", later)
    # pass 1 times everything; a worker without the listing leaves nothing out
    assert not driver.leaves_out("b.py::bench[gemm-n512]", {**later, driver.WORKER_ENV: "1/numpy"})
    assert not driver.leaves_out("b.py::bench[gemm-n512]", {driver.WORKER_ENV: "2/numpy"})


def _paired(name, call_s, partner_call_s, ratios=((2.0, 2.1),)):
    return {"fullname": name, "extra_info": {"call_s": call_s, "partner_call_s": partner_call_s,
                                             "process_pair_ratios": [list(r) for r in ratios]}}


def test_extra_passes_time_the_pairs_whose_two_calls_are_short_and_nothing_else(tmp_path):
    doc = {"benchmarks": [
        _paired("b.py::bench[r1-n1]", 6e-6, 4e-3),  # both short: extra passes
        _paired("b.py::bench[r1-n512]", 9e-4, 0.19),  # a long partner: the regular passes only
        _paired("b.py::bench[r256-n32]", 0.012, 0.02),  # a long case
        _paired("b.py::bench[edge]", 6e-6, 0.01),  # the threshold is long
        {"fullname": "b.py::bench[dense-n1]", "extra_info": {"call_s": 4e-3}},  # no pair
        _paired("b.py::bench[untimed]", None, None, ratios=()),
        {"fullname": "b.py::bench[older-file]", "extra_info": {"call_s": 6e-6, "process_pair_ratios": [[2.0]]}},
    ]}
    short = driver.short_pairs(doc, lambda bench: driver.is_short_pair(bench, 0.01))
    assert short == ["b.py::bench[r1-n1]"]
    listing = tmp_path / "short-pairs-numpy.txt"
    listing.write_text("\n".join(short))
    extra = {driver.WORKER_ENV: "4/numpy", driver.SHORT_PAIRS_ENV: str(listing)}
    assert not driver.leaves_out("b.py::bench[r1-n1]", extra)
    for other in ("b.py::bench[r1-n512]", "b.py::bench[dense-n1]", "b.py::bench[factorize]"):
        assert driver.leaves_out(other, extra)


def test_a_pair_with_a_long_partner_is_timed_in_every_regular_pass():
    # its own call decides (call_s): the rank-1 product beside a 4096² GEMM at n = 512 is a short call
    doc = {"benchmarks": [_paired("b.py::bench[r1-n512]", 9e-4, 0.19), _paired("b.py::bench[r512-n512]", 0.12, 0.19)]}
    assert driver.first_pass_only(doc, 0.1) == ["b.py::bench[r512-n512]"]


@pytest.mark.timed
def test_extra_passes_of_real_workers_time_only_the_short_pairs(tmp_path, monkeypatch):
    """Real workers of the matvec suite on a tiny 64x48 curve: one regular pass, then two that time the pairs."""
    tiny_matvec_curve(monkeypatch, "2,8")
    docs, lines = [], []
    assert driver.run_passes(["benchmarks/bench_matvec.py", "--benchmark-only"], ["numpy"], 1, tmp_path, {}, docs,
                             lines.append, short_pair_processes=3,
                             short_pair=lambda bench: driver.is_short_pair(bench, 0.01))
    assert [p for p, _ in docs] == [1, 2, 3]
    assert all(b["extra_info"]["variant"] == "factored" for _, doc in docs[1:] for b in doc["benchmarks"])
    merged = merging.merge_passes(docs)
    by_rank = {b["extra_info"]["rank"]: b["extra_info"] for b in merged["benchmarks"]}
    assert by_rank[None]["processes"] == 1  # the dense case: its own timing in the regular pass
    for rank in (2, 8):
        assert by_rank[rank]["processes"] == 3 and len(by_rank[rank]["process_speedups"]) == 3
    assert merging.merged_block(docs, merged, True, 1, 3)["complete"]
    assert not merging.merged_block(docs[:2], merged, True, 1, 3)["complete"]  # a pass missing
    assert any("[pass 3/3] numpy: timing the 2 pairs of short calls" in line for line in lines)


@pytest.mark.timed
def test_a_run_without_short_pairs_counts_its_extra_passes_as_run(tmp_path, monkeypatch):
    """Real workers: a dense case alone has no pair, so the extra passes have nothing to time; the run is complete."""
    tiny_matvec_curve(monkeypatch, "2")
    docs = []
    assert driver.run_passes(["benchmarks/bench_matvec.py", "--benchmark-only", "-k", "dense"], ["numpy"], 1,
                             tmp_path, {}, docs, lambda _msg: None, short_pair_processes=3,
                             short_pair=lambda bench: driver.is_short_pair(bench, 0.01))
    assert [p for p, _ in docs] == [1, 2, 3] and all(not d["benchmarks"] for _, d in docs[1:])
    merged = merging.merge_passes(docs)
    assert merging.merged_block(docs, merged, True, 1, 3)["complete"]



@pytest.mark.timed
def test_listed_pairs_that_no_extra_pass_times_mark_the_run_incomplete(tmp_path, monkeypatch):
    """Real workers: the short pairs are listed under a name no test has (as a renamed test would be), so
    the extra pass times nothing; those pairs have fewer processes than planned, and the run says so."""
    tiny_matvec_curve(monkeypatch, "2")

    def listed_under_another_name(bench):
        bench["fullname"] = "benchmarks/bench_matvec.py::bench_matvec[no-such-case]"
        return True

    docs, lines = [], []
    assert not driver.run_passes(["benchmarks/bench_matvec.py", "--benchmark-only"], ["numpy"], 1, tmp_path, {},
                                 docs, lines.append, short_pair_processes=2, short_pair=listed_under_another_name)
    assert [p for p, _ in docs] == [1, 2] and not docs[1][1]["benchmarks"]
    assert any("[pass 2/2] numpy: no result for the listed pairs of short calls; the run is marked incomplete" in line
               for line in lines)

def test_the_extra_passes_leave_cold_cache_cases_out():
    # A cold case (a fresh copy of its operands each call) costs twice a warm one to time: with them in the
    # two extra passes the default run took 966-977 s, over its 15 minutes (docs/timing.md).
    from benchmarks.harness.plugin import _short_pair
    from benchmarks.profiles import PROFILES

    chosen = _short_pair(PROFILES["default"].timing)
    cases = []
    for cache, partner_call_s in (("warm", 4e-3), ("cold", 4e-3), ("warm", 0.19)):
        case = _paired(f"b.py::bench[{cache}-{partner_call_s}]", 6e-6, partner_call_s)
        case["extra_info"]["cache"] = cache
        cases.append(case)
    assert [chosen(case) for case in cases] == [True, False, False]  # warm short, cold, a long partner


def test_a_listing_grows_in_order_without_repeats(tmp_path):
    listing = tmp_path / "short-pairs-numpy.txt"
    assert driver._extend_listing(listing, ["a", "b", "a"]) == ["a", "b"]
    assert driver._extend_listing(listing, ["b", "c"]) == ["c"]
    assert listing.read_text().splitlines() == ["a", "b", "c"]


def test_a_failed_workers_short_summary_names_its_failed_cases():
    output = ("....F.\n=== short test summary info ===\n"
              "FAILED benchmarks/bench_matvec.py::test_matvec[numpy-r0016] - AssertionError: x\n"
              "ERROR benchmarks/bench_lora.py::test_lora[a] - RuntimeError\n"
              "FAILED benchmarks/bench_matvec.py::test_matvec[numpy-r0016] - again\n1 failed, 5 passed in 1.0s\n")
    assert driver.failed_ids(output) == ["benchmarks/bench_matvec.py::test_matvec[numpy-r0016]",
                                         "benchmarks/bench_lora.py::test_lora[a]"]


def test_the_drivers_closing_line_counts_each_workers_case_once():
    from types import SimpleNamespace

    from benchmarks.harness import plugin

    reporter = SimpleNamespace(stats={"deselected": [object()] * 3})
    docs = [(p, {"benchmarks": [{"fullname": f"b.py::t[{c}]"} for c in "abc"]}) for p in (1, 2)]
    plugin._report_outcomes(reporter, docs, ("b.py::t[c]",), "the numpy worker of pass 2 failed (exit 1)")
    assert [r.nodeid for r in reporter.stats["passed"]] == ["b.py::t[a]", "b.py::t[b]"]
    (failed,) = reporter.stats["failed"]
    assert failed.nodeid == "b.py::t[c]" and failed.failed and "pass 2" in str(failed.longrepr)
    assert len(reporter.stats["deselected"]) == 3
