"""``lowrank-bench export``: a run as github-action-benchmark JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lowrank.cli.common import EXIT_OK, read_run
from lowrank.record import paths


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a run as github-action-benchmark JSON",
        description="Write OUT/times.json (customSmallerIsBetter: median time of every case, in us) and "
                    "OUT/speedups.json (customBiggerIsBetter: every same-run ratio of the suites: the dense/factored "
                    "speedup of every factored case, randomized SVD against its peer, ...), "
                    "the generic formats of github-action-benchmark.",
    )
    p.add_argument("run", metavar="RUN", type=Path, help="the result file to export")
    p.add_argument("-o", "--output", type=Path, default=paths.EXPORT, help="output folder")
    p.set_defaults(handler=_run_export)


def _run_export(args) -> int:
    from lowrank.store.export import check_timed, github_action_benchmark
    from lowrank.store.files import check_output, check_output_folder, staged_folder

    check_output_folder(args.output, inputs=[args.run], option="-o")
    for name in ("times.json", "speedups.json"):
        check_output(args.output / name, inputs=[args.run], option="-o")
    run = read_run(args.run)
    check_timed(run, args.run)
    data = github_action_benchmark(run)
    with staged_folder(args.output, inputs=[args.run], option="-o") as staging:
        for key, name in (("customSmallerIsBetter", "times.json"), ("customBiggerIsBetter", "speedups.json")):
            (staging / name).write_text(json.dumps(data[key], indent=1))
    print(f"wrote {args.output / 'times.json'} ({len(data['customSmallerIsBetter'])} entries) and "
          f"{args.output / 'speedups.json'} ({len(data['customBiggerIsBetter'])} entries)", file=sys.stdout)
    return EXIT_OK
