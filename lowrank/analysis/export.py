"""Export a run for github-action-benchmark's generic tools.

``customSmallerIsBetter`` gets every case's median time, ``customBiggerIsBetter``
every factored case's speedup over dense; each entry is
``{"name", "unit", "value", "range", "extra"}`` as that action expects.
"""

from __future__ import annotations

from .gate import dense_partner, matvec_cases


def github_action_benchmark(run: dict) -> dict[str, list[dict]]:
    """``{"customSmallerIsBetter": [...], "customBiggerIsBetter": [...]}`` for one parsed run."""
    cases = matvec_cases(run)
    times, speedups = [], []
    for case, bench in sorted(cases.items()):
        st, info = bench["stats"], bench["extra_info"]
        times.append(
            {
                "name": f"time {case}",
                "unit": "us",
                "value": st["median"] * 1e6,
                "range": f"± {st['iqr'] * 1e6 / 2:.4g}",
                "extra": f"IQR/median {st['iqr'] / st['median']:.1%}; rounds {st['rounds']}; "
                f"{info.get('gbps') or 0:.1f} GB/s; error {info.get('rel_error_fro', 0):.3g}",
            }
        )
        if info.get("variant") == "factored":
            dense = cases.get(dense_partner(case))
            if dense is not None:
                speedups.append(
                    {
                        "name": f"speedup {case}",
                        "unit": "x",
                        "value": dense["stats"]["median"] / st["median"],
                        "extra": f"rank {info['rank']} of r* {info['break_even_rank']:.0f}; "
                        f"error {info['rel_error_fro']:.3g} (optimum {info['optimal_error_fro']:.3g})",
                    }
                )
    return {"customSmallerIsBetter": times, "customBiggerIsBetter": speedups}
