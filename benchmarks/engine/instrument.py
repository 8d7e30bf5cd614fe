"""Two instruments, one interface: what a case's measured region is measured with.

As pytest-codspeed's instruments: the harness (``benchmarks/harness/plugin.py``) asks the run's
instrument, never the metric, what to do before a run (``unavailable``, ``launch``,
``prepares_operands``), around a case (``leaves_out``, ``measure``, ``measure_pair``) and what a
run's record gains (``run_fields``, ``reads_roofs``, ``measures_quality``). The two:

* :class:`benchmarks.engine.timing.WallClock`: seconds per call (``LOWRANK_BENCH_METRIC=time``);
* :class:`benchmarks.engine.counting.Instructions`: instructions per call under callgrind
  (``LOWRANK_BENCH_METRIC=instructions``).
"""

from __future__ import annotations

from typing import Protocol

from benchmarks.engine import counting, timing


class Instrument(Protocol):
    metric: str  # the record's metric: "time" or "instructions"
    reads_roofs: bool  # results are read against the calibrated roofs
    measures_quality: bool  # the untimed metrics are computed (in a run's first process)
    processes: int | None  # processes the instrument needs (None: the run's)
    prepares_operands: bool  # operands are built natively before the workers start

    def unavailable(self) -> str | None: ...  # why this machine cannot measure so, or None
    def leaves_out(self, item) -> str | None: ...  # why a collected case is not measured, or None
    def launch(self, workdir): ...  # (driver.Launch, count folder or None) of this run's workers
    def measure(self, benchmark, call, policy: timing.Policy) -> dict: ...
    def measure_pair(self, benchmark, call, partner, policy: timing.Policy, partner_plan=None): ...
    def run_fields(self, threads: dict) -> dict: ...  # what the run's record gains


INSTRUMENTS = {"time": timing.WallClock, "instructions": counting.Instructions}


def for_metric(metric: str) -> Instrument:
    """The instrument of ``LOWRANK_BENCH_METRIC``'s value (validated by the settings)."""
    return INSTRUMENTS[metric]()
