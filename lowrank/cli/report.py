"""``lowrank-bench report``: the Markdown + HTML report of one or more runs."""

from __future__ import annotations

from pathlib import Path

from lowrank.cli.common import DEFAULT_OUTPUT, EXIT_OK, RUNS_FOLDER, count, progress


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="write the Markdown + HTML report of one or more runs",
        description="Write report.md, report.html (figures embedded), figures/*.png and CSVs of the runs read. "
                    "The report is about one run (the newest unless --run says otherwise); other runs are "
                    "compared against it. With no PATHS, reads the newest file in results/runs/.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="result files or folders (default: newest in results/runs/)")
    p.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT,
                   help=f"output folder, created if needed; its report files are replaced (default: {DEFAULT_OUTPUT})")
    p.add_argument("--run", default=None, metavar="RUN_ID",
                   help="the run the report is about: run id, file name or unique prefix (default: the newest)")
    p.add_argument("--keep-going", action="store_true",
                   help="skip unreadable files (they are listed in the report) instead of stopping at the first")
    p.add_argument("--bootstrap", type=count(0, 100_000), default=200, metavar="N",
                   help="bootstrap resamples per timing for the speedup intervals (default 200; 0: use the IQRs)")
    p.set_defaults(handler=_run_report)


def _run_report(args) -> int:
    from lowrank.present import report
    from lowrank.store import load
    from lowrank.store.files import check_output_folder

    paths = args.paths
    if not paths:
        newest = load.newest_result_file(RUNS_FOLDER)
        progress(f"[report] no files given: using the newest result file, {newest}")
        paths = [newest]
    check_output_folder(args.output, inputs=paths, option="-o")  # before any file is read
    result = report.write_report(paths, args.output, run_id=args.run, keep_going=args.keep_going,
                                 n_boot=args.bootstrap, log=progress)
    for err in result.errors:
        progress(f"[report] warning: skipped {err}")
    print(f"report written: {result.markdown} and {result.html} ({len(result.figures)} figures)")
    return EXIT_OK
