"""The timing engine's decisions: stall-proof calibration, minimum rounds, diagnostics, pass merging."""

from benchmarks.engine import driver


def test_worker_arguments_drop_the_users_output_options():
    args = ["benchmarks/", "--benchmark-only", "--benchmark-json", "out.json", "-k", "numpy",
            "--benchmark-save=mine", "--benchmark-autosave", "--lowrank-output", "folder"]
    assert driver.worker_args(args) == ["benchmarks/", "--benchmark-only", "-k", "numpy"]
