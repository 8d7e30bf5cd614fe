"""Counted runs are validated when read, as timed runs are: every count a finite number above 0, the
``counting`` block of the right types, a count only where the run says it counted.

Each test starts from a real recorded counted run (``tests/recorded/counts-aa``) and corrupts one field.
"""

from __future__ import annotations

import copy
import json

import pytest

from lowrank.store import load
from lowrank.store.load import ResultFileError
from tests import recorded

# One case of a suite whose record declares the count fields (lora) and one whose record does not
# (factorize: timed by benchmark.pedantic), so that the counts are checked whatever the suite declares.
LORA = "forward-numpy-float32-d0512-k0512-r0016-n001-unmerged"
FACTORIZE = "numpy-float32-d0384-k0256-r0016-power-law-randomized-p010-q0"


def counted_with(tmp_path, case: str | None = None, field: str | None = None, value=None, *, block=None,
                 drop: bool = False):
    """The recorded counted run written to ``tmp_path``, with ``case``'s ``extra_info[field]`` set to
    ``value`` (or removed with ``drop``), and ``block(run_block)`` applied to its run block."""
    doc = copy.deepcopy(recorded.run("counts-aa", 1))
    if case is not None:
        (bench,) = [b for b in doc["benchmarks"] if b["param"] == case]
        if drop:
            del bench["extra_info"][field]
        else:
            bench["extra_info"][field] = value
    if block is not None:
        block(doc["machine_info"]["lowrank_bench"])
    path = tmp_path / "counted.json"
    path.write_text(json.dumps(doc))  # NaN and Infinity as Python's json writes them
    return path


def refusal(path) -> str:
    with pytest.raises(ResultFileError) as info:
        load.read_document(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message


def test_the_recorded_counted_runs_are_read():
    for i in (1, 2):
        info, rows = load.read_run(recorded.path("counts-aa", f"run{i}.json"))
        assert info.metric == "instructions" and len(rows) == 34
        assert all(r["instructions"] > 0 for r in rows)


@pytest.mark.parametrize("case", [LORA, FACTORIZE])
@pytest.mark.parametrize("value, shown", [
    (None, "null"), (float("nan"), "NaN"), (float("inf"), "Infinity"), (-5, "-5"), (0, "0"), (True, "true"),
    ("12", '"12"'), ([12], "[12]"),
])
def test_every_count_is_a_finite_number_above_zero(tmp_path, case, value, shown):
    message = refusal(counted_with(tmp_path, case, "instructions", value))
    name = f"[{case}]"
    assert name in message and f"instructions = {shown}" in message, message
    if case == FACTORIZE:  # the suite's own record has no count field: the count check alone says it
        assert "accepted in a counted run: a finite number of instructions per call > 0" in message


@pytest.mark.parametrize("case", [LORA, FACTORIZE])
def test_a_counted_case_without_its_count_is_refused(tmp_path, case):
    message = refusal(counted_with(tmp_path, case, "instructions", drop=True))
    assert f"[{case}]" in message and "instructions = null" in message


def test_a_fractional_count_per_call_is_accepted(tmp_path):
    # Instructions per call of a short call are a difference of medians over count_calls: 137474.43 was recorded.
    info, rows = load.read_run(counted_with(tmp_path, LORA, "instructions", 137474.4285))
    assert info.metric == "instructions" and 137474.4285 in [r["instructions"] for r in rows]


@pytest.mark.parametrize("field, value, shown", [
    ("instruction_counts", [4563732, 0], "instruction_counts[1] = 0"),
    ("instruction_counts", [4563732.5], "instruction_counts[0] = 4563732.5"),
    ("instruction_counts", ["4563732"], 'instruction_counts[0] = "4563732"'),
    ("instruction_counts", [], "instruction_counts = []"),
    ("instruction_counts_doubled", [True], "instruction_counts_doubled[0] = true"),
    ("count_calls", 0, "count_calls = 0"),
    ("count_calls", 1.5, "count_calls = 1.5"),
    ("counting_engine", "5", 'counting_engine = "5"'),
    ("allocator_instructions", float("nan"), "allocator_instructions = NaN"),
    ("address_keyed_instructions", "7", 'address_keyed_instructions = "7"'),
])
def test_each_count_field_has_its_type_and_range(tmp_path, field, value, shown):
    message = refusal(counted_with(tmp_path, FACTORIZE, field, value))
    assert f"[{FACTORIZE}]" in message and shown in message and "accepted" in message, message


@pytest.mark.parametrize("edit, shown", [
    (lambda b: b.__setitem__("counting", "x"), 'counting = "x"; accepted: a JSON object'),
    (lambda b: b.__setitem__("counting", [1]), "counting = [1]; accepted: a JSON object"),
    (lambda b: b["counting"].__setitem__("valgrind", 3), "counting.valgrind = 3; accepted: a string or null"),
    (lambda b: b["counting"].__setitem__("environment", "PYTHONHASHSEED=0"), "counting.environment = "),
    (lambda b: b["counting"].__setitem__("threads", [1]), "counting.threads = [1]; accepted: a JSON object"),
    (lambda b: b["counting"].__setitem__("blas", "openblas"), 'counting.blas = "openblas"; accepted: a list'),
    (lambda b: b["counting"].__setitem__("blas", ["openblas"]), "accepted: a list of JSON objects"),
    (lambda b: b["counting"].__setitem__("repeats", 0), "counting.repeats = 0; accepted: an integer >= 1"),
    (lambda b: b["counting"].__setitem__("engine", True), "counting.engine = true; accepted: an integer"),
    (lambda b: b.__setitem__("metric", "cycles"), "metric = \"cycles\"; accepted: 'time', 'instructions'"),
    (lambda b: b.__setitem__("metric", 5), "metric = 5; accepted: a string"),
    (lambda b: b.__setitem__("versions", "numpy 2"), 'versions = "numpy 2"; accepted: a JSON object'),
    (lambda b: b.__setitem__("complete", "yes"), 'complete = "yes"; accepted: true or false'),
])
def test_the_run_block_and_its_counting_settings_have_their_types(tmp_path, edit, shown):
    message = refusal(counted_with(tmp_path, block=edit))
    assert "machine_info.lowrank_bench." in message and shown in message, message


def test_a_count_in_a_run_that_says_it_was_timed_is_refused(tmp_path):
    # A counted run whose metric was removed would have its valgrind times read as times.
    message = refusal(counted_with(tmp_path, block=lambda b: b.pop("metric")))
    assert "instructions = " in message and "whose metric is 'time'" in message
    doc = recorded.run("suites-aa", 1)
    doc["benchmarks"][0]["extra_info"]["instructions"] = 1000
    timed = tmp_path / "timed.json"
    timed.write_text(json.dumps(doc))
    message = refusal(timed)
    assert f"[{doc['benchmarks'][0]['param']}]" in message and "instructions = 1000" in message


def test_keep_going_skips_a_file_of_null_counts_with_its_line(tmp_path):
    bad = counted_with(tmp_path, LORA, "instructions", None)
    lines = []
    result = load.load([bad, recorded.path("counts-aa", "run2.json")], keep_going=True, log=lines.append)
    assert [r.run_id for r in result.runs] == ["run2"] and len(result.errors) == 1
    assert str(bad) in str(result.errors[0]) and "instructions = null" in str(result.errors[0])
    assert any(line.startswith("[load] skipped") and str(bad) in line for line in lines)


def test_a_count_past_a_doubles_range_is_refused_not_a_crash(tmp_path):
    """JSON puts no bound on an integer's digits: 10**400 cannot be a float, so it is no count."""
    path = counted_with(tmp_path, LORA, "instructions", 10**400)
    with pytest.raises(ResultFileError, match=r"extra_info\.instructions = 1000.*accepted in a counted run"):
        load.load([path])


def test_a_number_past_pythons_digit_limit_is_a_bad_file_for_the_loader_and_the_output_guard(tmp_path):
    from lowrank.store import files

    path = tmp_path / "digits.csv"
    path.write_bytes(b'{"benchmarks": [], "x": 1' + b"0" * 5000 + b"}")
    with pytest.raises(ResultFileError, match="not a result file Python's JSON parser can read"):
        load.load([path])
    assert files.is_result_file(path) is False  # the guard answers; it does not crash
