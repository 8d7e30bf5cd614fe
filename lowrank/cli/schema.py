"""``lowrank-bench schema``: write (or check) ``docs/schema.md`` from the suites' records."""

from __future__ import annotations

import sys
from pathlib import Path

from lowrank.cli.common import EXIT_OK, InputError

EXIT_STALE = 1


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "schema",
        help="write docs/schema.md from the suites' records",
        description="Generate the result-schema documentation from lowrank/record/schema.py and the suite "
                    "definitions in lowrank/record/suites/. With --check, write nothing and exit 1 when the file "
                    "differs from what would be written.",
    )
    p.add_argument("-o", "--output", type=Path, default=None, help="the file (default docs/schema.md)")
    p.add_argument("--check", action="store_true", help="exit 1 when the file is stale; write nothing")
    p.set_defaults(handler=_run_schema)


def _run_schema(args) -> int:
    from lowrank.present import schema_doc

    path = args.output or schema_doc.DEFAULT_PATH
    if args.check:
        try:
            current = path.read_text(encoding="utf-8") if path.exists() else ""
        except (UnicodeDecodeError, IsADirectoryError) as exc:
            raise InputError(f"--check {path}: not a UTF-8 text file ({type(exc).__name__}); accepted: the "
                             "schema page, e.g. docs/schema.md") from None
        if current != schema_doc.markdown():
            print(f"{path} is stale: run `lowrank-bench schema` to regenerate it", file=sys.stderr)
            return EXIT_STALE
        print(f"{path} is up to date")
        return EXIT_OK
    print(f"wrote {schema_doc.write(path)}")
    return EXIT_OK
