"""The README's quick tour runs as written (it replays the two tutorial notebooks)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_quick_tour_runs(capsys):
    match = re.search(r"## Quick tour\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert match, "the README lost its quick tour"
    exec(compile(match.group(1), "README quick tour", "exec"), {})
    printed = capsys.readouterr().out
    assert "100 40" in printed  # the rank-2 layer: 100 parameters in W, 40 in B and A
    assert "2048.0" in printed  # r* of 4096x4096
