#!/usr/bin/env python
"""How long the test command takes here: ``bash scripts/test.sh`` in a fresh clone of this checkout.

A measurement, never a test. The clone is made from the checkout's HEAD into a temporary folder and
uses the checkout's ``.venv`` (linked, so the set-up step finds everything installed and the figure
is the tests' own; the package's editable install is pointed back at the checkout afterwards); ``--busy`` keeps one core busy with a spinning process for the whole run, as a
shared runner's neighbour would. Extra arguments after ``--`` go to the test command.

    python scripts/measure_test_time.py
    python scripts/measure_test_time.py --busy
    python scripts/measure_test_time.py -- -m "not timed"

Writes ``results/measurements/test-time-<stamp>.json`` (a new file; ``--json`` to choose) with the
date, commit, machine, the wall time of each part of the command and pytest's closing lines.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lowrank.model.provenance import machine, utc_now  # noqa: E402
from lowrank.store.files import write_new_text  # noqa: E402
from measurement import commit  # noqa: E402

CLOSING = re.compile(r"^=*\s*(\d+ (?:passed|failed).*?) in ([\d.]+)s")  # pytest's closing line


def run_tests(clone: Path, extra: list[str], busy: bool) -> dict:
    """``bash scripts/test.sh EXTRA`` in ``clone``: exit code, seconds and each pytest closing line."""
    # A core kept busy until this script ends, however it ends (killed, it cannot reap the spinner).
    spin = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    pass\n"
    spinner = subprocess.Popen([sys.executable, "-c", spin]) if busy else None
    start = time.perf_counter()
    try:
        proc = subprocess.run(["bash", "scripts/test.sh", *extra], cwd=clone, capture_output=True, text=True,
                              check=False)
    finally:
        if spinner is not None:
            spinner.kill()
    seconds = time.perf_counter() - start
    parts = [{"summary": m.group(1).strip(" ="), "pytest_s": float(m.group(2))}
             for m in map(CLOSING.match, proc.stdout.splitlines()) if m]
    return {"exit": proc.returncode, "seconds": round(seconds, 1), "parts": parts,
            "tail": (proc.stdout + proc.stderr)[-2000:] if proc.returncode else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", action="store_true", help="keep one core busy for the whole run")
    parser.add_argument("--json", type=Path, help="where to write the record (default: results/measurements/)")
    parser.add_argument("extra", nargs="*", help="arguments for the test command (after --)")
    args = parser.parse_args(argv)
    venv = REPO / ".venv"
    if not (venv / "bin" / "python").exists():
        parser.error(f"{venv} has no Python: run `bash scripts/setup_env.sh` first")
    with tempfile.TemporaryDirectory(prefix="lowrank-test-time-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        (clone / ".venv").symlink_to(venv)
        print(f"[test-time] bash scripts/test.sh {' '.join(args.extra)} in a fresh clone"
              f"{', one core kept busy' if args.busy else ''} ...", flush=True)
        try:
            result = run_tests(clone, args.extra, args.busy)
        finally:  # the set-up step re-installed the package from the clone: point it back at this checkout
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", "-e",
                            str(REPO)], check=True, capture_output=True)
    record = {"date": utc_now(), "commit": commit(), "machine": machine(), "command": "bash scripts/test.sh",
              "args": args.extra, "busy_core": args.busy, "fresh_clone": True,
              "venv": "the checkout's, linked (set-up finds everything installed)", **result}
    target = args.json or REPO / "results" / "measurements" / f"test-time-{time.strftime('%Y%m%d-%H%M')}.json"
    written = write_new_text(target, json.dumps(record, indent=1) + "\n")
    for part in result["parts"]:
        print(f"[test-time] {part['summary']} in {part['pytest_s']:.0f} s")
    print(f"[test-time] exit {result['exit']}, {result['seconds']:.0f} s in all; written to {written}")
    return 0 if result["exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
