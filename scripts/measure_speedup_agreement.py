"""How well two runs agree on their speedups and break-even verdicts: a measurement, not a test.

    python scripts/measure_speedup_agreement.py RUN_A RUN_B [--json OUT] [--noise-probe FILE ...]

For every factored matvec case both runs hold, the speedup of one run against the other's: the
share within 5% and 10%, the count beyond 25%, the worst ratio; the same for the matvec medians
themselves and for the single-vector (n = 1) speedups. Where the runs hold paired speedups (the
factored case timed beside its dense partner in alternating rounds), each speedup line is given
twice from the same two runs: ``paired`` (``paired_speedup``, what every reader uses) and
``unpaired`` (dense median / factored median). Per (backend, dtype, shape, batch, cache) group,
whether the two runs reach the same break-even verdict: "crossing at r ~ ...", "faster at every
rank", "slower at every rank", or, where a speedup interval holds 1, "r between a and b", which
agrees with any crossing, verdict or range inside (or overlapping) it; a crossing counts with its
own bounds (where the ends of the speedup's interval cross 1), which its report cell states. This is issue 24's table,
reproducible from any two result files (the committed references: ``results/reference/*_default_vm.json.gz``).
``--json`` writes the figures, with the date, this checkout's commit, each run's commit and machine,
and the lines of any ``--noise-probe`` file (``scripts/noise_probe.py``'s output saved beside the
runs), to a new file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lowrank.judge import speedups  # noqa: E402
from lowrank.store.documents import parse  # noqa: E402
from lowrank.store.files import write_new_text  # noqa: E402
from measurement import commit  # noqa: E402
from lowrank.store.load import load, matvec  # noqa: E402

GROUP = ["backend", "dtype", "d", "k", "batch", "cache"]


def agreement(a: np.ndarray, b: np.ndarray) -> dict:
    """How far paired figures of two runs are apart: shares within 5% and 10%, count beyond 25%, worst."""
    ratio = np.maximum(a / b, b / a)
    return {"n": int(ratio.size), "within_5": float(np.mean(ratio <= 1.05)), "within_10": float(np.mean(ratio <= 1.10)),
            "beyond_25": int(np.sum(ratio > 1.25)), "worst": float(ratio.max()) if ratio.size else float("nan")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs=2, type=Path, metavar="RUN")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here (a new file)")
    parser.add_argument("--noise-probe", type=Path, action="append", default=[], metavar="FILE",
                        help="a saved output of scripts/noise_probe.py taken beside the runs (repeatable): its lines "
                             "go into the --json record")
    args = parser.parse_args(argv)
    if args.json is not None and args.json.exists():
        parser.error(f"--json {args.json}: exists; measurements are never overwritten")
    probes = []
    for probe in args.noise_probe:
        try:
            probes += [line for line in probe.read_text().splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            parser.error(f"--noise-probe {probe}: cannot be read ({exc})")
    frames, sps, bes, about = [], [], [], []
    for path in args.runs:
        loaded = load([path])
        about.append(_about(path))
        frames.append(matvec(loaded.frame))
        sp = speedups.speedups(loaded.frame, n_boot=0, runs=loaded.runs)
        sps.append(sp)
        bes.append(speedups.break_even(sp))
    key = ["variant", "rank", *GROUP]
    medians = frames[0].merge(frames[1], on=key, suffixes=("_a", "_b"))
    case = ["rank", *GROUP]
    pair = sps[0].merge(sps[1], on=case, suffixes=("_a", "_b"))
    single = pair[pair["batch"] == 1]
    # Where the break-even is decided, chosen by the cost model (r*), not by any measured figure: at the
    # lowest ranks a speedup of 100-900x divides milliseconds by a few microseconds.
    near = pair[pair["rank"].astype(float) >= pair["r_star_a"] / 4]
    paired = bool(pair["paired_a"].all() and pair["paired_b"].all()) if len(pair) else False
    rows = {"matvec medians": agreement(medians["median_a"].to_numpy(), medians["median_b"].to_numpy())}
    for label, column in ((("paired", "speedup"), ("unpaired", "unpaired_speedup")) if paired
                          else (("", "speedup"),)):
        name = f"speedups, {label}" if label else "speedups"
        rows[name] = agreement(pair[f"{column}_a"].to_numpy(), pair[f"{column}_b"].to_numpy())
        rows[f"{name}, n = 1"] = agreement(single[f"{column}_a"].to_numpy(), single[f"{column}_b"].to_numpy())
        rows[f"{name}, r ≥ r*/4"] = agreement(near[f"{column}_a"].to_numpy(), near[f"{column}_b"].to_numpy())
    be = bes[0].merge(bes[1], on=GROUP, suffixes=("_a", "_b"))
    sure = ~be["uncertain_a"].astype(bool) & ~be["uncertain_b"].astype(bool)
    crossed = be[sure & (be["status_a"] == speedups.STATUS_CROSSING) & (be["status_b"] == speedups.STATUS_CROSSING)]
    rows["break-even rank, both crossing"] = agreement(crossed["measured_a"].to_numpy(), crossed["measured_b"].to_numpy())
    records = be.to_dict("records")
    agree = [speedups.verdicts_agree({k[:-2]: v for k, v in r.items() if k.endswith("_a")},
                            {k[:-2]: v for k, v in r.items() if k.endswith("_b")}) for r in records]
    changed = [r for r, ok in zip(records, agree) if not ok]
    bounded = int(be["uncertain_a"].astype(bool).sum() + be["uncertain_b"].astype(bool).sum())
    widths = []  # of the verdicts bounded on both sides, as a fraction of r*
    for r in records:
        for side in ("_a", "_b"):
            lo, hi = speedups.verdict_span({k[:-2]: v for k, v in r.items() if k.endswith(side)})
            if np.isfinite(lo) and np.isfinite(hi):
                widths.append((hi - lo) / r["r_star" + side])
    print("| figure, between the two runs | n | within 5% | within 10% | beyond 25% | worst |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['n']} | {r['within_5']:.1%} | {r['within_10']:.1%} | {r['beyond_25']} | {r['worst']:.2f}x |")
    print(f"\n{len(changed)} of {len(be)} groups changed their break-even verdict between the runs "
          f"({bounded} verdicts of the {2 * len(be)} are ranges: a speedup interval holds 1)")
    if widths:
        print(f"{len(widths)} of the {2 * len(be)} verdicts are bounded on both sides (a crossing or a range inside "
              f"the grid), their width median {np.median(widths):.1%} of r*, 90th percentile "
              f"{np.quantile(widths, 0.9):.1%}")
    for r in changed[:20]:
        print(f"  {r['backend']} {r['dtype']} {r['d']}x{r['k']} n={r['batch']} {r['cache']}: {r['text_a']} -> {r['text_b']}")
    if args.json is not None:
        record = {"what": "agreement of two runs' speedups and break-even verdicts "
                          "(scripts/measure_speedup_agreement.py)",
                  "date": datetime.datetime.now().isoformat(timespec="seconds"), "commit": commit(),
                  "command": "python scripts/measure_speedup_agreement.py "
                             + " ".join(sys.argv[1:] if argv is None else map(str, argv)),
                  "runs": [str(p) for p in args.runs], "run_info": about, "noise_probe": probes,
                  "rows": rows, "groups": len(be), "verdict_changed": len(changed), "ranges": bounded,
                  "bounded_both_sides": len(widths),
                  "bounded_width_median_r_star": float(np.median(widths)) if widths else None,
                  "changed": [{k: r[k] for k in (*GROUP, "text_a", "text_b")} for r in changed]}
        write_new_text(args.json, json.dumps(record, indent=1, default=str) + "\n")
    return 0


def _about(path: Path) -> dict:
    """A run's commit, machine and time, as its file records them."""
    doc = parse(Path(path).read_bytes())
    commit = doc.get("commit_info") or {}
    machine = doc.get("machine_info") or {}
    return {"datetime": doc.get("datetime"), "commit": commit.get("id"), "dirty": commit.get("dirty"),
            "cpu": (machine.get("cpu") or {}).get("brand_raw"), "node": machine.get("node")}


if __name__ == "__main__":
    sys.exit(main())
