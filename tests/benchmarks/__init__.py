"""Helpers the benchmark-harness tests share."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def tiny_matvec_curve(monkeypatch, ranks: str) -> None:
    """Point real worker processes at the tiny 64x48 numpy float32 curve (quick profile, n = 1, warm) at
    ``ranks`` (``"2,8"``), from the repository root: a few seconds a pass."""
    tiny = {"LOWRANK_BENCH_PROFILE": "quick", "LOWRANK_BENCH_SHAPES": "64x48", "LOWRANK_BENCH_RANKS": ranks,
            "LOWRANK_BENCH_BATCHES": "1", "LOWRANK_BENCH_CACHE": "warm", "LOWRANK_BENCH_BACKENDS": "numpy",
            "LOWRANK_BENCH_DTYPES": "float32"}
    for name, value in tiny.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(REPO)
