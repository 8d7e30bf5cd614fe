"""``lowrank-bench history``: runs ordered by commit, each case's trend, change points."""

from __future__ import annotations

from pathlib import Path

from lowrank.cli.common import EXIT_OK, RUNS_FOLDER, count, positive_fraction, progress
from lowrank.record import paths

DEFAULT_OUTPUT = paths.HISTORY


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "history",
        help="each case's trend across runs (by commit) and its change points",
        description="Read result files (or folders, recursively), group them by commit, order the commits by their "
                    "first run, and find where each case's level changed (ruptures' PELT on the log of the series, "
                    "BIC-like penalty from the series' own noise; steps below --min-effect dropped). Times are "
                    "compared per machine (hardware fingerprint); --metric ratio follows the same-run ratios "
                    "(factored/dense, apply/bare, ...), which carry over between machines. Writes history.md, "
                    "history.html, figures/trend_*.png and change_points.csv.",
    )
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                   help=f"result files or folders (default: {RUNS_FOLDER})")
    p.add_argument("--metric", choices=("time", "ratio", "instructions"), default="time",
                   help="what each series holds (time); instructions: counted runs' instructions per call")
    p.add_argument("-k", dest="select", default=None, metavar="TEXT", help="keep the cases whose name contains TEXT")
    p.add_argument("--min-effect", type=positive_fraction, default=0.05,
                   help="smallest change of level reported, e.g. 0.05 or 5%% (5%%)")
    p.add_argument("--min-size", type=count(1), default=None,
                   help="commits per level at least for a change to be found (default: the detector's, "
                        "lowrank.judge.history.MIN_SIZE = 4); a change found is placed where the data puts it, "
                        "so a level at either end of the history may be shorter, down to 3")
    p.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help=f"output folder ({DEFAULT_OUTPUT})")
    p.add_argument("--keep-going", action="store_true", help="skip unreadable files instead of stopping")
    p.set_defaults(handler=_run_history)


def _run_history(args) -> int:
    from lowrank.cli.common import InputError
    from lowrank.judge import history
    from lowrank.present import history_report
    from lowrank.store import load
    from lowrank.store.files import check_output_folder

    min_size = history.MIN_SIZE if args.min_size is None else args.min_size
    if min_size < 1:
        raise InputError(f"--min-size {min_size}: accepted an integer >= 1")
    paths = args.paths or [RUNS_FOLDER]
    check_output_folder(args.output, inputs=paths, option="-o")  # before any file is read
    loaded = load.load(paths, keep_going=args.keep_going, log=progress)
    progress(f"[history] read {load.describe_loaded(loaded)}")
    other = history.left_out(loaded, args.metric)
    if other:  # never mixed into the series: said, so that a folder of both metrics is not read as one
        names = ", ".join(f"{r.path} ({r.metric})" for r in other[:3]) + (
            f" and {len(other) - 3} more" if len(other) > 3 else "")
        progress(f"[history] left out {len(other)} run(s) of another metric than --metric {args.metric}: {names}")
    h = history.build(loaded, args.metric, args.select)
    if not h.series:
        raise InputError(_why_no_series(loaded.runs, args.metric, args.select))
    if len(h.points) < 2 * min_size:
        progress(f"[history] {len(h.points)} commit(s): a change point needs {2 * min_size} (--min-size "
                 f"{min_size} on each side); trends are drawn, none can be found")
    history.change_points(h, args.min_effect, min_size)
    if h.disturbed:
        progress(f"[history] {len(h.disturbed)} run(s) disturbed as a whole, left out of detection")
    result = history_report.write(h, args.output, log=progress, inputs=[r.path for r in loaded.runs])
    print(history_report.to_text(h))
    print(f"history written to {result.html}")
    return EXIT_OK


def _why_no_series(runs, metric: str, select: str | None) -> str:
    """Why a history has no series: the runs hold another metric than ``--metric`` asks for, ``-k`` matched
    nothing, or the runs hold no case at all."""
    # --metric time and ratio read timed runs, --metric instructions counted ones (lowrank.judge.history.build).
    wanted = "instructions" if metric == "instructions" else "time"
    held = sorted({run.metric for run in runs})
    if runs and wanted not in held:
        kinds = {"time": ("timed runs (metric time)", "time or ratio"),
                 "instructions": ("counted runs (metric instructions)", "instructions")}
        kind = " and ".join(kinds.get(m, (f"runs of metric {m}",))[0] for m in held)
        accepted = " or ".join(kinds[m][1] for m in held if m in kinds) or "none"
        return (f"--metric {metric}: the {len(runs)} run(s) read are {kind}, which hold no {wanted}; accepted for "
                f"them: --metric {accepted}")
    if select:
        return f"no case matches -k {select!r}"
    return f"no case to follow: the {len(runs)} run(s) read hold no benchmark of a known suite"
