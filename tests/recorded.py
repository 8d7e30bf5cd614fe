"""The recorded real result files of ``tests/recorded/`` (not a test module).

The verdict tests read these instead of timing the suite on the spot: a verdict
computed from a run measured during the test is decided by how busy the machine is.
``scripts/record_fixtures.py`` records them and writes ``MANIFEST.json`` (settings,
versions, every try); ``tests/record/test_recorded_fixtures.py`` says when they must be recorded again.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "recorded"
MANIFEST = FOLDER / "MANIFEST.json"
RERECORD = "re-record them: python scripts/record_fixtures.py (after bash scripts/setup_env.sh)"


@functools.cache
def _text(path: Path) -> str:
    return path.read_text()


def manifest() -> dict:
    return json.loads(_text(MANIFEST))


def path(name: str, file: str) -> Path:
    """``tests/recorded/NAME/FILE``."""
    return FOLDER / name / file


def run(name: str, i: int) -> dict:
    """Run ``i`` (1-based) of the recorded set ``name``, freshly parsed (callers may change it)."""
    return json.loads(_text(path(name, f"run{i}.json")))


def ab_docs(name: str = "ab-apply") -> dict[str, list[tuple[int, dict]]]:
    """The per-process documents of a recorded A/B, by side: ``{"base": [(round, doc), ...], "head": ...}``."""
    out: dict[str, list[tuple[int, dict]]] = {"base": [], "head": []}
    for file in sorted((FOLDER / name).glob("*-*.json")):
        label, round_no, _backend = file.stem.split("-", 2)
        out[label].append((int(round_no), json.loads(_text(file))))
    for docs in out.values():
        docs.sort(key=lambda item: item[0])
    return out
