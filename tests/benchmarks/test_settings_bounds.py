"""Every numeric LOWRANK_BENCH_* setting has a bound: a value past it is refused, naming the variable,
the value and the accepted range, before anything is built or timed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.harness import selection, settings

ROOT = Path(__file__).resolve().parents[2]
CPUS = os.cpu_count() or 1


@pytest.mark.parametrize(
    "env, words",
    [
        ({"LOWRANK_BENCH_THREADS": str(CPUS + 1)},
         [f"LOWRANK_BENCH_THREADS='{CPUS + 1}'", f"up to {CPUS}", "CPU count"]),
        ({"LOWRANK_BENCH_THREADS": "100000"}, ["LOWRANK_BENCH_THREADS='100000'", f"up to {CPUS}"]),
        ({"LOWRANK_BENCH_THREADS": "²"}, ["LOWRANK_BENCH_THREADS='²'", "positive integer"]),
        ({"LOWRANK_BENCH_PROCESSES": "9" * 5000},  # int() of so many digits raises before any bound
         ["LOWRANK_BENCH_PROCESSES='999", f"<= {settings.MAX_PROCESSES}"]),
        ({"LOWRANK_BENCH_PROCESSES": str(settings.MAX_PROCESSES + 1)},
         [f"LOWRANK_BENCH_PROCESSES='{settings.MAX_PROCESSES + 1}'", f"<= {settings.MAX_PROCESSES}"]),
        ({"LOWRANK_BENCH_SHAPES": "99999999999x2"},
         ["LOWRANK_BENCH_SHAPES='99999999999x2'", "D and K from 1 to 1048576"]),
        ({"LOWRANK_BENCH_SHAPES": f"64x{2**20 + 1}"}, [f"LOWRANK_BENCH_SHAPES='64x{2**20 + 1}'", "1 to 1048576"]),
        ({"LOWRANK_BENCH_SHAPES": "64x²"}, ["LOWRANK_BENCH_SHAPES='64x²'", "is not DxK"]),
        ({"LOWRANK_BENCH_RANKS": f"1,{2**20 + 1}"}, [f"LOWRANK_BENCH_RANKS='1,{2**20 + 1}'", f"{2**20 + 1} is out of range",
                                                    "positive integers up to 1048576"]),
        ({"LOWRANK_BENCH_BATCHES": "99999999999"}, ["LOWRANK_BENCH_BATCHES='99999999999'", "positive integers up to 1048576"]),
        ({"LOWRANK_BENCH_BATCHES": "1_000"}, ["LOWRANK_BENCH_BATCHES='1_000'", "positive integers up to 1048576"]),
        ({"LOWRANK_BENCH_BATCHES": "0"}, ["LOWRANK_BENCH_BATCHES='0'", "0 is out of range"]),
    ],
)
def test_a_value_past_its_bound_is_refused_with_the_range(env, words):
    with pytest.raises(settings.SettingsError) as err:
        settings.Settings.from_env(env)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    "env, expect",
    [
        ({"LOWRANK_BENCH_THREADS": str(CPUS)}, lambda s: s.threads == CPUS),
        ({"LOWRANK_BENCH_PROCESSES": str(settings.MAX_PROCESSES)}, lambda s: s.processes == settings.MAX_PROCESSES),
        # A language model's output layer (Llama 3's vocabulary) is timed at its own shape by `model`.
        ({"LOWRANK_BENCH_SHAPES": "128256x4096", "LOWRANK_BENCH_DTYPES": "float32", "LOWRANK_BENCH_BATCHES": "1"},
         lambda s: s.selection.shapes == ((128256, 4096),)),
        ({"LOWRANK_BENCH_SHAPES": f"{2**20}x1", "LOWRANK_BENCH_RANKS": "1", "LOWRANK_BENCH_BATCHES": "1"},
         lambda s: s.selection.shapes == ((2**20, 1),) and s.selection.ranks == (1,)),
        ({"LOWRANK_BENCH_SHAPES": "1x1", "LOWRANK_BENCH_RANKS": "1", "LOWRANK_BENCH_BATCHES": str(2**20)},
         lambda s: s.selection.batches == (2**20,)),
    ],
)
def test_a_value_at_its_bound_is_accepted(env, expect):
    assert expect(settings.Settings.from_env(env))


def test_a_grid_past_the_machines_memory_is_refused_naming_what_the_user_set():
    env = {"LOWRANK_BENCH_PROFILE": "quick", "LOWRANK_BENCH_SHAPES": "4096x4096", "LOWRANK_BENCH_BATCHES": "1",
           "LOWRANK_BENCH_DTYPES": "float64"}
    need = (4096 * 4096 + 2 * 4096) * 8  # W, x and y of the dense case
    assert selection.select_from_env(env, memory=need).shapes == ((4096, 4096),)
    with pytest.raises(selection.GridError) as err:
        selection.select_from_env(env, memory=need - 1)
    message = str(err.value)
    for word in ("LOWRANK_BENCH_SHAPES='4096x4096'", "LOWRANK_BENCH_BATCHES='1'", "LOWRANK_BENCH_DTYPES='float64'",
                 "4096x4096 case at float64, n = 1", "fit in memory"):
        assert word in message
    # The same shape in float32 needs half: the dtype is part of the bound.
    assert selection.select_from_env({**env, "LOWRANK_BENCH_DTYPES": "float32"}, memory=need - 1)


def test_a_batch_alone_can_pass_the_memory_of_any_machine():
    # 8192x8192 at n = 2**20 in float32: W, x and y need 64 GiB.
    with pytest.raises(selection.GridError, match=r"^LOWRANK_BENCH_BATCHES='1048576': the 8192x8192 case"):
        selection.select_from_env({"LOWRANK_BENCH_BATCHES": str(2**20)}, memory=2**35)


def test_cases_the_profile_skips_do_not_count_against_memory():
    # The default profile times 8192² in float32 at n = 1 only: that is its largest case, not 8192² in
    # float64 at n = 512, which it leaves out.
    need = (8192 * 8192 + 2 * 8192) * 4
    env = {"LOWRANK_BENCH_PROFILE": "default"}
    assert selection.select_from_env(env, memory=need)
    with pytest.raises(selection.GridError, match=r"^LOWRANK_BENCH_PROFILE='default': the 8192x8192 case at float32"):
        selection.select_from_env(env, memory=need - 1)


@pytest.mark.parametrize("variable, value", [("LOWRANK_BENCH_THREADS", "100000"),
                                             ("LOWRANK_BENCH_SHAPES", "99999999999x2")])
def test_collecting_the_suite_with_a_value_past_its_bound_is_a_usage_error(variable, value):
    # LOWRANK_BENCH_THREADS=100000 was a segmentation fault (exit 139) at the end of --collect-only.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOWRANK_BENCH_")}
    env[variable] = value
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "--collect-only", "-q", "-p", "no:cacheprovider"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"ERROR: {variable}={value!r}: "), lines
