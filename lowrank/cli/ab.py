"""``lowrank-bench ab``: two revisions or two environments in alternating processes; exit 1 on a slowdown."""

from __future__ import annotations

import datetime as dt
import shlex
import tempfile
from pathlib import Path

from lowrank.cli.common import (
    EXIT_OK,
    EXIT_REGRESSION,
    InputError,
    add_config_argument,
    count,
    gate_config,
    level,
    positive_fraction,
    progress,
)
from lowrank.record import paths

DEFAULT_FOLDER = paths.AB


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ab",
        help="time two revisions (or two Python environments) in alternating processes; exit 1 on a slowdown",
        description="Run the benchmark suite for BASE and HEAD on this machine in one job, alternating them process "
                    "by process (base then head in odd rounds, head then base in even ones), one backend per process. "
                    "Each process gives one median per case; each round one paired log ratio head/base. A case is "
                    "'slower' when a t interval of those ratios (simultaneous over every case and look, alpha "
                    "--alpha) excludes 1 and the estimate is at least --threshold; rounds continue, up to "
                    "--max-rounds, until every case is slower or clear of a slowdown of the threshold. Disturbed "
                    "processes and single-case outliers are left out and counted. Exact metrics must match. Writes "
                    "base.json and head.json (each side's processes pooled, as result files of the suite), ab.json "
                    "and ab.md to a new folder. Exit codes: 0 no slowdown, 1 a slowdown or an exact metric changed, "
                    "2 usage or input error.",
        epilog="Examples: `lowrank-bench ab` (your uncommitted changes against HEAD); `lowrank-bench ab HEAD~1 HEAD`; "
               "`lowrank-bench ab HEAD~1 HEAD --metric instructions` (counts, which the machine's load cannot move); "
               "`lowrank-bench ab --base-python old/bin/python --head-python new/bin/python` (a numpy or torch "
               "upgrade on the same code); `lowrank-bench ab main HEAD -k overhead`.",
    )
    p.add_argument("base", metavar="BASE", nargs="?", default=None,
                   help="git revision of the base side, or '.' for the working tree (default: HEAD, or '.' with "
                        "--base-python/--head-python)")
    p.add_argument("head", metavar="HEAD", nargs="?", default=None,
                   help="git revision of the head side, or '.' for the working tree (default: '.')")
    p.add_argument("--base-python", default=None, metavar="PY", help="interpreter of the base side (default: this one)")
    p.add_argument("--head-python", default=None, metavar="PY", help="interpreter of the head side (default: this one)")
    p.add_argument("-k", dest="select", default=None, metavar="EXPR", help="pytest -k selection of cases")
    p.add_argument("--metric", default="time", choices=("time", "instructions"),
                   help="time: alternating timed processes, rounds, paired verdicts (default); instructions: one "
                        "counted run a side under valgrind's callgrind (overhead, LoRA and factorize suites, one "
                        "thread), both sides at once, a change beyond the gate's instructions tolerance fails; no "
                        "rounds, so --min-rounds, --max-rounds, --check-every, --threshold and --alpha do not apply")
    p.add_argument("--profile", default="quick", choices=("quick", "default", "full"), help="grid profile (quick)")
    p.add_argument("--threads", type=count(1), default=1, help="BLAS and torch threads of every process (1)")
    p.add_argument("--backend", dest="backends", default="numpy,torch-cpu",
                   help="comma-separated backends, each timed in processes of its own (numpy,torch-cpu)")
    p.add_argument("--min-rounds", type=count(2), default=6, help="rounds before the first look at the verdicts (6)")
    p.add_argument("--max-rounds", type=count(2), default=12, help="rounds at most (12)")
    p.add_argument("--check-every", type=count(1), default=3, help="rounds between looks after --min-rounds (3)")
    p.add_argument("--threshold", type=positive_fraction, default=0.05,
                   help="smallest change reported, e.g. 0.05 or 5%% (5%%)")
    p.add_argument("--alpha", type=level, default=0.05,
                   help="false-alarm probability over the whole comparison (0.05)")
    p.add_argument("--accept", action="append", default=[], metavar="GLOB",
                   help="a case whose slowdown is intended (glob on e.g. 'bench_matvec[numpy-*]'): reported, does "
                        "not fail; repeatable (CI takes these from 'Accept-Slower:' trailers of the commit message)")
    p.add_argument("--output", type=Path, default=DEFAULT_FOLDER, metavar="DIR",
                   help=f"a new folder is made under DIR for the files ({DEFAULT_FOLDER})")
    p.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default: the current folder)")
    add_config_argument(p)
    p.set_defaults(handler=_run_ab)


def _sides(args) -> tuple[str, str]:
    if args.base is None and args.head is None:
        same = args.base_python or args.head_python
        return (".", ".") if same else ("HEAD", ".")
    return args.base or "HEAD", args.head or "."


def _run_ab(args) -> int:
    from lowrank.judge import gate
    from lowrank.present import ab_report
    from lowrank.runner import ab
    from lowrank.store.files import check_output_folder, new_folder

    cfg, _ = gate_config(args)
    check_output_folder(args.output)  # before any timing
    base_rev, head_rev = _sides(args)
    if base_rev == head_rev == "." and args.base_python == args.head_python:
        progress("lowrank-bench ab: base and head are the same code and interpreter: an A/A run (measures the noise)")
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    from lowrank.backends import BACKEND_NAMES

    unknown = [b for b in backends if b not in BACKEND_NAMES]
    if unknown or not backends:
        raise InputError(f"--backend {args.backends!r}: accepted a comma-separated list of {', '.join(BACKEND_NAMES)}")
    settings = ab.AbSettings(profile=args.profile, threads=args.threads, backends=backends, select=args.select,
                             min_rounds=args.min_rounds, max_rounds=args.max_rounds, check_every=args.check_every,
                             threshold=args.threshold, alpha=args.alpha, accept=tuple(args.accept))
    if args.metric == "instructions":
        if args.threads != 1:
            raise InputError(f"--threads {args.threads} with --metric instructions: accepted 1 (counts are made on one "
                             "thread; thread scaling is a matter of time, --metric time)")
        _require_valgrind()
    repo = ab.repository_root(args.repo.resolve())
    sides = {"base": ab.resolve(repo, "base", base_rev, args.base_python),
             "head": ab.resolve(repo, "head", head_rev, args.head_python)}
    if args.metric == "instructions":
        return _run_counted(args, cfg, repo, sides, settings, base_rev, head_rev)
    progress(f"lowrank-bench ab: base {sides['base'].description}; head {sides['head'].description}; profile "
             f"{settings.profile}, {settings.threads} thread(s); rounds {settings.min_rounds}-{settings.max_rounds}")
    # SIGTERM (a CI job cancelled, `kill`) cleans up as Ctrl-C does (lowrank.cli.main's handler): the
    # temporary folder and the registered git worktrees are removed on the way out.
    with tempfile.TemporaryDirectory(prefix="lowrank-ab-") as tmp:
        run = ab.run_ab(repo, sides, settings, Path(tmp), log=progress)
    pooled = {label: ab.pooled(run, label) for label in ab.SIDES}
    result = gate.compare_runs(pooled["head"], pooled["base"], cfg, allow_missing=True)
    correctness = [f for f in result.regressions if f.kind == "correctness"]
    print(ab_report.to_text(run, correctness))
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = new_folder(args.output, stamp)
    command = _command(args, base_rev, head_rev)
    for path in ab_report.write(folder, run, pooled, correctness, command):
        progress(f"lowrank-bench ab: wrote {path}")
    return EXIT_REGRESSION if ab_report.exit_code(run, correctness) else EXIT_OK



def _require_valgrind() -> None:
    import shutil

    if shutil.which("valgrind") is None:
        raise InputError("--metric instructions: counting needs valgrind (its callgrind tool) and a C compiler, and "
                         "valgrind is not on PATH: install it (`apt-get install valgrind`, `dnf install valgrind "
                         "valgrind-devel`, `brew install valgrind`), or compare times (--metric time)")


def _run_counted(args, cfg, repo: Path, sides: dict, settings, base_rev: str, head_rev: str) -> int:
    """``ab --metric instructions``: both sides counted at once, judged as the gate judges counts."""
    import time

    from lowrank.judge import gate
    from lowrank.present import ab_report
    from lowrank.runner import ab
    from lowrank.store.files import new_folder

    progress(f"lowrank-bench ab --metric instructions: base {sides['base'].description}; head "
             f"{sides['head'].description}; profile {settings.profile}, backends {', '.join(settings.backends)}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lowrank-ab-") as tmp:
        docs = ab.run_counted(repo, sides, settings, Path(tmp), log=progress)
    seconds = time.perf_counter() - start
    result = gate.compare_runs(docs["head"], docs["base"], cfg, allow_missing=True)
    failing = ab_report.counted_failing(result, ab_report.benchmark_names(docs["head"]), settings)
    print(ab_report.counted_to_text(sides, result, failing, seconds))
    folder = new_folder(args.output, dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    command = _command(args, base_rev, head_rev)
    for path in ab_report.write_counted(folder, docs, sides, settings, result, failing, seconds, command):
        progress(f"lowrank-bench ab: wrote {path}")
    return EXIT_REGRESSION if failing else EXIT_OK


def _command(args, base_rev: str, head_rev: str) -> str:
    """The command line that repeats this comparison."""
    parts = ["lowrank-bench", "ab", base_rev, head_rev]
    for flag, value, default in (("--base-python", args.base_python, None), ("--head-python", args.head_python, None),
                                 ("-k", args.select, None), ("--metric", args.metric, "time"),
                                 ("--profile", args.profile, "quick"),
                                 ("--threads", args.threads, 1), ("--backend", args.backends, "numpy,torch-cpu"),
                                 ("--min-rounds", args.min_rounds, 6), ("--max-rounds", args.max_rounds, 12),
                                 ("--threshold", args.threshold, 0.05), ("--alpha", args.alpha, 0.05)):
        if value is not None and value != default:
            parts += [flag, str(value)]
    for glob in args.accept:
        parts += ["--accept", glob]
    return shlex.join(parts)
