"""``lowrank-bench compare``: two runs side by side, judged as the gate judges times."""

from __future__ import annotations

from pathlib import Path

from lowrank.cli.common import (
    DEFAULT_OUTPUT,
    EXIT_OK,
    InputError,
    add_config_argument,
    gate_config,
    positive_fraction,
    progress,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare two runs side by side (tables and a ratio plot)",
        description="Compare run B against run A, benchmark by benchmark (matched on pytest's node id): time "
                    "ratio B/A with a 95% interval; regressions and improvements are judged exactly as "
                    "'lowrank-bench gate' judges absolute times (minimum effect AND Mann-Whitney U at alpha, "
                    "thresholds from [tool.lowrank-bench.gate] in pyproject.toml, then --threshold). Two counted "
                    "runs (LOWRANK_BENCH_METRIC=instructions) are compared on instructions per call, judged as the "
                    "gate judges counts (instructions_tolerance, or --threshold), with a warning for every counting "
                    "setting that differs. Prints the "
                    "tables and writes comparison.md, comparison.html, comparison.csv and figures/run_comparison.png.",
    )
    p.add_argument("run_a", metavar="RUN_A", type=Path, help="the baseline result file")
    p.add_argument("run_b", metavar="RUN_B", type=Path, help="the result file compared with it")
    p.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help=f"output folder (default: {DEFAULT_OUTPUT})")
    p.add_argument("--threshold", type=positive_fraction, default=None,
                   help="smallest change reported as a regression or improvement, for every case (default: the "
                        "gate's minimum effects from pyproject.toml, else 0.1, i.e. 10%%; for counted runs its "
                        "instructions_tolerance, else 0.005)")
    add_config_argument(p)
    p.set_defaults(handler=_run_compare)


def _run_compare(args) -> int:
    from lowrank.present import report
    from lowrank.store.files import check_output_folder

    for path in (args.run_a, args.run_b):
        if path.is_dir():
            raise InputError(f"{path}: is a folder; compare takes two result files")
    check_output_folder(args.output, inputs=[args.run_a, args.run_b], option="-o")
    config, _ = gate_config(args)
    result = report.write_comparison(args.run_a, args.run_b, args.output, threshold=args.threshold, log=progress,
                                     config=config)
    print(result.text)
    print(f"comparison written: {result.markdown} and {result.html}")
    return EXIT_OK
