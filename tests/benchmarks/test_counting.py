"""Counted runs (``LOWRANK_BENCH_METRIC=instructions``): settings, the engine's parts, and what a real counted run
writes (:func:`assert_records_instructions_per_call`, on tests/runner/test_ab_counted.py's runs)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.engine import counting, driver
from benchmarks.harness import settings

REPO = Path(__file__).resolve().parents[2]
VALGRIND = shutil.which("valgrind")
COMPILER = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def test_the_metric_is_time_by_default_and_instructions_on_request():
    assert settings.Settings.from_env({}).metric == "time"
    counted = settings.Settings.from_env({"LOWRANK_BENCH_METRIC": "instructions"})
    assert counted.counts and counted.threads == 1 and counted.processes == 1  # one pass, one thread


@pytest.mark.parametrize("env, words", [
    ({"LOWRANK_BENCH_METRIC": "cycles"}, ["LOWRANK_BENCH_METRIC='cycles'", "accepted time, instructions"]),
    ({"LOWRANK_BENCH_METRIC": "instructions", "LOWRANK_BENCH_THREADS": "2"},
     ["LOWRANK_BENCH_THREADS='2'", "accepted 1"]),
])
def test_bad_counting_settings_are_named(env, words):
    with pytest.raises(settings.SettingsError) as err:
        settings.Settings.from_env(env)
    assert all(w in str(err.value) for w in words)


def test_a_dump_is_read_from_its_totals_line(tmp_path):
    dump = tmp_path / "callgrind.1.1"
    dump.write_text("version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 0\ntotals: 1104921\n")
    assert counting._region(dump) == (1104921, 0, 0)
    (tmp_path / "empty").write_text("events: Ir\n")
    with pytest.raises(counting.CountingUnavailable, match="without a 'totals:' line"):
        counting._region(tmp_path / "empty")


def test_the_allocators_internals_are_their_own_cost_and_not_their_callers(tmp_path):
    # malloc's own 40 stay counted; _int_malloc's 300 and unlink_chunk's 25 are the allocator's; the
    # line after a calls= line is that call's inclusive cost (325), counted once, under its callee.
    dump = tmp_path / "callgrind.1.1"
    dump.write_text("events: Ir\nob=/usr/lib/libc.so.6\nfl=malloc.c\nfn=malloc\n0 40\ncfn=_int_malloc\n"
                    "calls=2 0\n0 325\n\nfn=_int_malloc\n0 300\ncfn=unlink_chunk.constprop.0\ncalls=1 0\n0 25\n\n"
                    "fn=(7) unlink_chunk.constprop.0\n0 25\n\nfn=PyObject_Malloc\n+1 1000\ntotals: 1365\n")
    assert counting._region(dump) == (1365, 325, 0)


def test_numpys_address_keyed_lookup_is_left_out_with_what_it_calls(tmp_path):
    # The lookup's own 48 and the 24 of the memcmp it calls (its inclusive cost) are address-keyed;
    # memcmp's 30 called from elsewhere, and the ufunc's own 500, stay counted.
    dump = tmp_path / "callgrind.1.1"
    dump.write_text("events: Ir\nfn=ufunc_generic_fastcall\n0 500\ncfn=PyArrayIdentityHash_GetItem\ncalls=2 0\n"
                    "0 72\ncfn=__memcmp_avx2_movbe\ncalls=1 0\n0 30\n\nfn=PyArrayIdentityHash_GetItem\n0 48\n"
                    "cfn=__memcmp_avx2_movbe\ncalls=2 0\n0 24\n\nfn=__memcmp_avx2_movbe\n0 54\ntotals: 602\n")
    assert counting._region(dump) == (602, 0, 72)


def test_cpythons_type_cache_misses_are_left_out_with_what_they_call(tmp_path):
    # find_name_in_mro (a miss of the type-attribute cache keyed by the name's address) with the dict
    # lookup it calls: 30 + 20 left out; the same dict lookup called from the bytecode loop stays.
    dump = tmp_path / "callgrind.1.1"
    dump.write_text("events: Ir\nfn=_PyType_Lookup\n0 40\ncfn=find_name_in_mro\ncalls=1 0\n0 50\n\n"
                    "fn=find_name_in_mro\n0 30\ncfn=_Py_dict_lookup\ncalls=2 0\n0 20\n\n"
                    "fn=_PyEval_EvalFrameDefault\n0 100\ncfn=_Py_dict_lookup\ncalls=1 0\n0 10\n\n"
                    "fn=_Py_dict_lookup\n0 30\ntotals: 200\n")
    assert counting._region(dump) == (200, 0, 50)


def test_a_counted_worker_draws_fixed_entropy_and_seeded_numbers_do_not_change():
    # In a subprocess: fix_entropy rebinds numpy's entropy source for the whole process.
    script = ("import numpy as np\nfrom benchmarks.engine import counting\n"
              "before = np.random.RandomState(7).random_sample(3).tolist()\n"
              "counting.fix_entropy()\n"
              "assert np.random.SeedSequence().entropy == np.random.SeedSequence().entropy == counting.FIXED_ENTROPY\n"
              "assert np.random.default_rng().random() == np.random.default_rng().random()\n"
              "assert np.random.RandomState(7).random_sample(3).tolist() == before\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stderr


def test_a_count_outside_a_counted_worker_says_how_to_get_one(monkeypatch):
    monkeypatch.setattr(driver, "_current", None)  # not a worker: no spec, no dump folder
    with pytest.raises(counting.CountingUnavailable, match="LOWRANK_BENCH_METRIC=instructions"):
        counting.counted(lambda: None)


def test_a_count_outside_a_counted_worker_leaves_numpys_entropy_alone(monkeypatch):
    import numpy.random.bit_generator as bit_generator

    monkeypatch.setattr(driver, "_current", None)
    source = bit_generator.randbits
    with pytest.raises(counting.CountingUnavailable, match="LOWRANK_BENCH_METRIC=instructions"):
        counting.count(lambda: None)
    assert bit_generator.randbits is source


def test_without_valgrind_a_counted_run_says_what_to_install(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path), "LOWRANK_BENCH_METRIC": "instructions",
           "LOWRANK_BENCH_PROFILE": "quick", "LOWRANK_BENCH_BACKENDS": "numpy"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks/bench_overhead.py", "--benchmark-only", "-q",
                           "-p", "no:cacheprovider"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 4, proc.stdout + proc.stderr  # pytest's usage error
    assert "needs valgrind" in proc.stderr and "install" in proc.stderr and "Traceback" not in proc.stderr


def assert_records_instructions_per_call(doc: dict) -> None:
    """What a real counted run of the overhead suite's numpy cases writes: instructions per call of every case,
    from loops of N and 2N calls, with the allocator's and address-keyed instructions set apart. The real
    counted runs are tests/runner/test_ab_counted.py's (one a side of a counted A/B): a counted worker starts
    under valgrind for seconds, so the suite's counted run is checked on those rather than on one more."""
    block = doc["machine_info"]["lowrank_bench"]
    assert block["metric"] == "instructions" and block["counting"]["valgrind"].startswith("valgrind-")
    assert block["counting"]["environment"]["PYTHONHASHSEED"] == "0"
    assert block["threads"]["requested"] == 1
    counts = {b["param"]: b["extra_info"] for b in doc["benchmarks"]}
    assert set(counts) == {"bare-numpy", "apply-numpy"}
    for info in counts.values():
        assert len(info["instruction_counts"]) == len(info["instruction_counts_doubled"]) == counting.REPEATS
        assert info["count_calls"] > 1  # short calls: loops of N and 2N calls
        median = lambda xs: sorted(xs)[counting.REPEATS // 2]  # noqa: E731
        per_call = (median(info["instruction_counts_doubled"]) - median(info["instruction_counts"])) / info["count_calls"]
        assert info["instructions"] == per_call
        # what a region costs besides its calls cancelled: below the plain average of a loop of N calls
        assert info["instructions"] < median(info["instruction_counts"]) / info["count_calls"]
        assert 0 < info["allocator_instructions"] < info["instructions"] / 10
        # np.dot (the library's numpy product for a vector) takes no ufunc dispatch cache, so this may be 0; the
        # exclusion itself is tested on matmul in test_numpys_address_keyed_lookup_is_left_out_with_what_it_calls
        assert 0 <= info["address_keyed_instructions"] < info["instructions"] / 10
    # apply validates its input and then does the bare product: strictly more instructions
    assert counts["apply-numpy"]["instructions"] > counts["bare-numpy"]["instructions"] > 1000
