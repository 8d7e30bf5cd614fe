"""The run's settings: every LOWRANK_BENCH_* variable parsed once, bad values named with what is accepted."""

import os
from pathlib import Path

import pytest

from benchmarks.engine import machine
from benchmarks.harness import settings


def test_defaults_without_any_variable():
    s = settings.Settings.from_env({})
    assert s.selection.profile.name == "default"
    assert s.threads == machine.default_threads() and not s.threads_explicit
    assert s.processes == settings.DEFAULT_PROCESSES
    assert s.output_dir == settings.DEFAULT_OUTPUT


def test_variables_and_options_are_read_and_options_win():
    env = {"LOWRANK_BENCH_PROFILE": "default", "LOWRANK_BENCH_THREADS": "2", "LOWRANK_BENCH_PROCESSES": "1",
           "LOWRANK_BENCH_OUTPUT": "/tmp/a", "LOWRANK_BENCH_SHAPES": "64x48"}
    s = settings.Settings.from_env(env, profile="quick", output="/tmp/b")
    assert s.selection.profile.name == "quick" and s.selection.shapes == ((64, 48),)
    assert (s.threads, s.threads_explicit, s.processes) == (2, True, 1)
    assert s.output_dir == Path("/tmp/b")
    assert settings.Settings.from_env(env).output_dir == Path("/tmp/a")


def test_settings_are_frozen():
    s = settings.Settings.from_env({})
    with pytest.raises(AttributeError):
        s.threads = 4


@pytest.mark.parametrize(
    "env, words",
    [
        ({"LOWRANK_BENCH_PROCESSES": "0"}, ["LOWRANK_BENCH_PROCESSES='0'", "integer >= 1"]),
        ({"LOWRANK_BENCH_PROCESSES": "two"}, ["LOWRANK_BENCH_PROCESSES='two'"]),
        ({"LOWRANK_BENCH_THREADS": "-1"}, ["LOWRANK_BENCH_THREADS='-1'", "positive integer"]),
        ({"LOWRANK_BENCH_PROFILE": "huge"}, ["LOWRANK_BENCH_PROFILE='huge'", "'quick', 'default', 'full'"]),
        ({"LOWRANK_BENCH_CACHE": "lukewarm"}, ["LOWRANK_BENCH_CACHE", "'lukewarm'"]),
        # A misspelt variable used to be ignored: the default profile ran instead of the one asked for.
        ({"LOWRANK_BENCH_PROFLE": "quick"}, ["LOWRANK_BENCH_PROFLE='quick' is not a setting",
                                             "did you mean LOWRANK_BENCH_PROFILE?"]),
        ({"LOWRANK_BENCH_XYZZY": "1"}, ["LOWRANK_BENCH_XYZZY='1' is not a setting", "accepted: LOWRANK_BENCH_PROFILE"]),
        ({"LOWRANK_BENCH_BACKENDS": ","}, ["LOWRANK_BENCH_BACKENDS=',' names no value", "'numpy'"]),
    ],
)
def test_a_bad_value_is_named_with_what_is_accepted(env, words):
    with pytest.raises(settings.SettingsError) as err:
        settings.Settings.from_env(env)
    for word in words:
        assert word in str(err.value)


def test_every_variable_the_suite_reads_is_documented_here():
    import re

    suite = Path(settings.__file__).resolve().parents[1]  # every module of benchmarks/
    text = "".join(f.read_text() for f in sorted(suite.rglob("*.py")))
    read = set(re.findall(r'"(LOWRANK_BENCH_[A-Z_]+)"', text))
    assert read <= set(settings.VARIABLES), read - set(settings.VARIABLES)


def test_a_worker_reads_its_settings_from_its_spec_alone(tmp_path, monkeypatch):
    # The driver's settings, narrowed to the worker's backend and one process, whatever the environment says.
    from benchmarks.engine import driver

    spec = driver.WorkerSpec(process=2, processes=3, backend="torch-cpu", calibration={}, operand_cache=str(tmp_path),
                             settings={"LOWRANK_BENCH_PROFILE": "quick", "LOWRANK_BENCH_BACKENDS": "numpy,torch-cpu"})
    again = driver.WorkerSpec.read(spec.write(tmp_path / "spec.json"))
    assert again == spec
    monkeypatch.setenv("LOWRANK_BENCH_PROFILE", "full")
    read = settings.Settings.from_env(again.worker_settings)
    assert read.selection.profile.name == "quick" and read.selection.backends == ("torch-cpu",)
    assert read.processes == 1


def test_an_output_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(settings.SettingsError, match="LOWRANK_BENCH_OUTPUT=.*is a file"):
        settings.Settings.from_env({"LOWRANK_BENCH_OUTPUT": str(tmp_path / "f")})
    with pytest.raises(settings.SettingsError, match="LOWRANK_BENCH_WORKER.*not a setting"):
        settings.Settings.from_env({"LOWRANK_BENCH_WORKER": "1/numpy"})  # workers are configured by a spec file


def test_collecting_a_numpy_only_suite_never_imports_torch():
    # Every benchmark module asks for the run's backends only (settings.backend_status): torch's import
    # is a second natively and most of a counted numpy worker's start under valgrind.
    import subprocess
    import sys

    code = ("import sys, pytest\n"
            "code = pytest.main(['benchmarks/', '--collect-only', '-q', '-p', 'no:cacheprovider'])\n"
            "assert code == 0, code\n"
            "print('torch imported' if 'torch' in sys.modules else 'no torch')")
    repo = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOWRANK_BENCH_")}
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True,
                          env={**env, "LOWRANK_BENCH_BACKENDS": "numpy"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.strip().endswith("no torch")
