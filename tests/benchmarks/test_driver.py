"""The driver's decisions: which arguments reach the workers, which cases a later pass leaves out."""

from benchmarks.engine import driver


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
