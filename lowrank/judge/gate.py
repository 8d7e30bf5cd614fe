"""The regression gate: a run against a stored baseline, exact metrics and timings.

What is compared
----------------
Every suite of ``lowrank/record/suites/`` is gated, as its definition says:

* **Exact metrics** (``Suite.exact``: parameters, bytes, FLOPs, errors) on every
  machine: they do not depend on speed, so any change beyond round-off is a
  correctness regression.
* **Same-run ratios** (``Suite.pairings``: the matvec speedup dense/factored, our
  randomized SVD against its peer, the unmerged LoRA forward against the merged one,
  ``apply`` against a bare product) on every machine: a ratio of two timings on one
  machine carries over between machines far better than either timing.
  CI turns them off (``ratios = "never"``) and judges timings in its A/B instead: a
  ratio against a baseline recorded on another day moves 2-3x on a shared VM.
* **Absolute medians** only when the hardware fingerprints match (or when asked): a
  laptop and a CI runner are not expected to agree.

When a timing counts as changed
-------------------------------
Only when the change is both larger than a minimum effect (default 10%) *and*
statistically significant on the raw samples: a one-sided Mann–Whitney U test for
absolute times (asv's rule) and a bootstrap interval of the speedup ratio that
excludes 1. Either alone raises false alarms: a significance test flags 2% drifts
among thousands of samples, a threshold flags noise.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import NormalDist

from lowrank.errors import LowRankValueError
from lowrank.record import pairs, stats
from lowrank.record.schema import run_metric, same_metric
from lowrank.record.suites import SUITES, Suite

EPS = {"float64": 2.0**-52, "float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}
ABSOLUTE_MODES = ("auto", "always", "never")
RATIO_MODES = ("always", "never")


@dataclass(frozen=True)
class Override:
    """Thresholds for the cases whose id matches ``pattern`` (fnmatch, e.g. ``*-d0256-*``)."""

    pattern: str
    speedup_min_effect: float | None = None
    time_min_effect: float | None = None
    alpha: float | None = None
    # The matching cases' timings (same-run ratios, absolute times, instruction counts) are not judged.
    # Their exact metrics still are: a change of error, bytes or FLOPs is a correctness regression that
    # no threshold for noisy timings should hide, whatever the pattern (even "*").
    ignore: bool = False
    instructions_tolerance: float | None = None


@dataclass(frozen=True)
class GateConfig:
    """Thresholds of the gate; defaults, then ``[tool.lowrank-bench.gate]``, then CLI flags."""

    speedup_min_effect: float = 0.10
    time_min_effect: float = 0.10
    alpha: float = 0.01
    absolute: str = "auto"
    # Same-run ratios against a baseline recorded hours or days earlier: on a shared VM a slow day
    # moves them 2-3x (memory-bound dense products slow down, small factored ones do not), so CI
    # judges them in its A/B, both sides timed in one job, and gates exact metrics here ("never").
    ratios: str = "always"
    # Counted runs: instructions per call may move this much (relative) before a change is a
    # regression or an improvement; no test of significance: the same code counts the same.
    instructions_tolerance: float = 0.005
    exact_rtol: float = 1e-6
    exact_atol: float = 1e-12
    # output error depends on the BLAS kernel's summation order: allow a few units of
    # round-off of the dtype, relative to the output.
    output_error_ulps: float = 64.0
    n_boot: int = 1000
    overrides: tuple[Override, ...] = field(default=())

    def for_case(self, case_id: str) -> tuple["GateConfig", bool]:
        """This configuration with the overrides matching ``case_id`` applied, and whether to leave the case's
        timings unjudged (``ignore``; its exact metrics are judged all the same)."""
        cfg, ignore = self, False
        for ov in self.overrides:
            if fnmatch.fnmatchcase(case_id, ov.pattern):
                ignore = ignore or ov.ignore
                cfg = replace(
                    cfg,
                    speedup_min_effect=ov.speedup_min_effect if ov.speedup_min_effect is not None else cfg.speedup_min_effect,
                    time_min_effect=ov.time_min_effect if ov.time_min_effect is not None else cfg.time_min_effect,
                    alpha=ov.alpha if ov.alpha is not None else cfg.alpha,
                    instructions_tolerance=(ov.instructions_tolerance if ov.instructions_tolerance is not None
                                            else cfg.instructions_tolerance),
                )
        return cfg, ignore


CONFIG_KEYS = {"speedup_min_effect", "time_min_effect", "min_effect", "alpha", "absolute", "ratios",
               "instructions_tolerance", "exact_rtol",
               "exact_atol", "output_error_ulps", "n_boot", "override"}


def load_config(pyproject: str | Path | None) -> GateConfig:
    """Read ``[tool.lowrank-bench.gate]`` from a pyproject.toml (defaults when absent).

    A file that is not TOML, a table of the wrong type, an unknown key or a value out of range
    raises :class:`~lowrank.errors.LowRankValueError` naming the file, the key and the value.
    """
    import tomllib

    cfg = GateConfig()
    if pyproject is None or not Path(pyproject).exists():
        return cfg
    try:
        with open(pyproject, "rb") as fh:
            document = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise LowRankValueError(f"{pyproject}: not valid TOML ({exc}); the gate's thresholds cannot be read") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LowRankValueError(f"{pyproject}: cannot be read as a TOML file ({exc})") from None
    table, keys = document, []
    for key in ("tool", "lowrank-bench", "gate"):
        table = table.get(key, {})
        keys.append(key)
        if not isinstance(table, dict):
            raise LowRankValueError(f"{pyproject}: {'.'.join(keys)} = {table!r} ({type(table).__name__}); "
                                    "accepted: a table")
    unknown = set(table) - CONFIG_KEYS
    if unknown:
        raise LowRankValueError(
            f"{pyproject}: unknown key(s) {sorted(unknown)} in [tool.lowrank-bench.gate]; accepted: {sorted(CONFIG_KEYS)}"
        )
    values = {k: v for k, v in table.items() if k not in ("override", "min_effect")}
    if "min_effect" in table:
        values.setdefault("speedup_min_effect", table["min_effect"])
        values.setdefault("time_min_effect", table["min_effect"])
    entries = table.get("override", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise LowRankValueError(f"{pyproject}: 'override' must be a list of [[tool.lowrank-bench.gate.override]] "
                                f"tables, got {entries!r}")
    overrides = []
    for entry in entries:
        unknown = set(entry) - OVERRIDE_KEYS
        if unknown:
            raise LowRankValueError(f"{pyproject}: unknown key(s) {sorted(unknown)} in an override; accepted: "
                                    f"{sorted(OVERRIDE_KEYS)}")
        if "pattern" not in entry:
            raise LowRankValueError(f"{pyproject}: every [[tool.lowrank-bench.gate.override]] needs a 'pattern'")
        me = entry.get("min_effect")
        overrides.append(
            Override(
                pattern=entry["pattern"],
                speedup_min_effect=entry.get("speedup_min_effect", me),
                time_min_effect=entry.get("time_min_effect", me),
                alpha=entry.get("alpha"),
                ignore=entry.get("ignore", False),
                instructions_tolerance=entry.get("instructions_tolerance"),
            )
        )
    try:
        return validate_config(replace(cfg, **values, overrides=tuple(overrides)))
    except LowRankValueError as exc:
        raise LowRankValueError(f"{pyproject}: {exc}") from None


OVERRIDE_KEYS = {"pattern", "min_effect", "speedup_min_effect", "time_min_effect", "alpha", "ignore",
                 "instructions_tolerance"}


def _number(value) -> bool:
    """A real, finite number (not a bool: TOML's ``true`` is no threshold)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_min_effect(name: str, value) -> None:
    """A minimum effect: a finite fraction in [0, 10) (10 would mean "an 11x change is noise")."""
    if not _number(value) or not 0 <= value < 10:
        raise LowRankValueError(f"{name}={value!r}: accepted a finite fraction in [0, 10), e.g. 0.10 for 10%")


def check_tolerance(name: str, value) -> None:
    """A tolerance of counted instructions: a finite fraction in [0, 1)."""
    if not _number(value) or not 0 <= value < 1:
        raise LowRankValueError(f"{name}={value!r}: accepted a fraction in [0, 1), e.g. 0.005")


def check_alpha(name: str, value) -> None:
    """A significance level in the open interval (0, 1)."""
    if not _number(value) or not 0 < value < 1:
        raise LowRankValueError(f"{name}={value!r}: accepted a significance level in (0, 1), e.g. 0.01")


def validate_config(cfg: GateConfig) -> GateConfig:
    """Check every threshold, the overrides' too; raise naming the bad setting and what is accepted.

    A threshold that is NaN, infinite, negative or out of range would switch the gate off
    (no change exceeds an infinite effect; a NaN comparison is always false), so none is
    accepted, from a file or a flag.
    """
    for name in ("speedup_min_effect", "time_min_effect"):
        check_min_effect(name, getattr(cfg, name))
    check_alpha("alpha", cfg.alpha)
    if cfg.absolute not in ABSOLUTE_MODES:
        raise LowRankValueError(f"absolute={cfg.absolute!r}: accepted {', '.join(map(repr, ABSOLUTE_MODES))}")
    if cfg.ratios not in RATIO_MODES:
        raise LowRankValueError(f"ratios={cfg.ratios!r}: accepted {', '.join(map(repr, RATIO_MODES))}")
    check_tolerance("instructions_tolerance", cfg.instructions_tolerance)
    for name in ("exact_rtol", "exact_atol", "output_error_ulps"):
        value = getattr(cfg, name)
        if not _number(value) or value < 0:
            raise LowRankValueError(f"{name}={value!r}: accepted a finite number >= 0")
    if isinstance(cfg.n_boot, bool) or not isinstance(cfg.n_boot, int) or not 100 <= cfg.n_boot <= 1_000_000:
        raise LowRankValueError(f"n_boot={cfg.n_boot!r}: accepted an integer from 100 to 1000000")
    for ov in cfg.overrides:
        if not isinstance(ov.pattern, str) or not ov.pattern:
            raise LowRankValueError(f"override pattern={ov.pattern!r}: accepted a non-empty fnmatch pattern, e.g. '*-n001-*'")
        where = f"override {ov.pattern!r}: "
        for name in ("speedup_min_effect", "time_min_effect"):
            if getattr(ov, name) is not None:
                try:
                    check_min_effect(name, getattr(ov, name))
                except LowRankValueError as exc:
                    raise LowRankValueError(where + str(exc)) from None
        if ov.alpha is not None:
            try:
                check_alpha("alpha", ov.alpha)
            except LowRankValueError as exc:
                raise LowRankValueError(where + str(exc)) from None
        if ov.instructions_tolerance is not None:
            try:
                check_tolerance("instructions_tolerance", ov.instructions_tolerance)
            except LowRankValueError as exc:
                raise LowRankValueError(where + str(exc)) from None
        if not isinstance(ov.ignore, bool):
            raise LowRankValueError(where + f"ignore={ov.ignore!r}: accepted true or false")
    return cfg


@dataclass(frozen=True)
class Finding:
    """One compared figure of one case."""

    case: str
    metric: str  # "exact:<field>", a suite's pairing ("speedup", "vs_peer", ...), "time"
    status: str  # "regression", "improvement", "unchanged"
    baseline: float
    current: float
    ratio: float  # current / baseline (for speedup: relative change of the speedup)
    low: float | None = None  # interval of the ratio, when computed
    high: float | None = None
    p_value: float | None = None
    note: str = ""
    partner: str | None = None  # the reference case of a pairing's ratio
    suite: str = ""

    @property
    def is_ratio(self) -> bool:
        return self.kind == "timing" and self.metric != "time"

    @property
    def kind(self) -> str:
        if self.metric.startswith("exact:"):
            return "correctness"
        return "count" if self.metric == "instructions" else "timing"


@dataclass(frozen=True)
class GateResult:
    findings: list[Finding]
    cases: list[str]  # the ids compared
    absolute_compared: bool
    absolute_reason: str
    only_baseline: list[str]
    only_current: list[str]
    incomplete: str | None = None  # the run was interrupted or failed: what it says about itself
    allow_missing: bool = False  # baseline cases absent from the run are accepted (--allow-missing)
    ratios_compared: bool = True  # same-run ratios judged (ratios="always")
    counted: bool = False  # both runs counted instructions (LOWRANK_BENCH_METRIC=instructions)
    warnings: tuple[str, ...] = ()  # what differs between the runs' counting settings
    timing_ignored: tuple[str, ...] = ()  # cases whose timings an override's ignore = true left unjudged

    @property
    def compared(self) -> str:
        """What timings were compared, in a sentence or two (printed under the verdict)."""
        ignored = "" if not self.timing_ignored else (
            f"; timings of {len(self.timing_ignored)} case(s) not judged (an override with ignore = true, e.g. "
            f"{self.timing_ignored[0]}): their exact metrics are")
        if self.counted:
            return ("counted runs: instructions per call compared (a change beyond the tolerance is a regression or "
                    "an improvement) and exact metrics; their times are valgrind's, not compared" + ignored)
        if self.ratios_compared:
            return self.absolute_reason + ignored
        return (f"{self.absolute_reason}; same-run ratios not compared (ratios=never): only exact metrics are "
                "gated here, timings must be judged elsewhere (lowrank-bench ab times both sides in one job)" + ignored)

    @property
    def missing_fails(self) -> bool:
        """Baseline cases the run lacks fail the gate: they were not checked (unless allowed)."""
        return bool(self.only_baseline) and not self.allow_missing

    @property
    def common(self) -> int:
        """How many cases the run and the baseline share."""
        return len(self.cases)

    @property
    def regressions(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "regression"]

    @property
    def improvements(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "improvement"]

    @property
    def exit_code(self) -> int:
        # An incomplete run, or one missing baseline cases, fails the gate: what it lacks was not checked.
        return 1 if self.regressions or self.incomplete or self.missing_fails else 0


def _paired(bench: dict):
    """``(process_pair_ratios or None, (speedup, lo, hi))`` of a paired case; None when it carries no paired speedup."""
    extra = bench.get("extra_info") or {}
    if not pairs.is_paired(extra):
        return None
    by_process = extra.get("process_pair_ratios") or None
    return by_process, (extra["paired_speedup"], extra.get("paired_speedup_lo"), extra.get("paired_speedup_hi"))


def _samples(bench: dict):
    data = bench.get("stats", {}).get("data")
    return data if data is not None and len(data) else None


def exact_findings(case: str, base: dict, cur: dict, cfg: GateConfig, suite: Suite | None = None) -> list[Finding]:
    """Regressions of the exact metrics of one case (``suite.exact``; the suite named in its record by default)."""
    bi, ci = base["extra_info"], cur["extra_info"]
    suite = suite or SUITES[ci.get("suite") or bi.get("suite")]
    out = []
    for name, kind in suite.exact.items():
        b, c = bi.get(name), ci.get(name)
        if b is None and c is None:
            continue  # not measured in either (e.g. a later pass, timing disabled)
        if kind == "identical":
            same, note = b == c, "must be identical"
        elif b is None or c is None:
            same, note = False, "measured in one run only"
        elif kind == "rtol":
            same, note = math.isclose(c, b, rel_tol=cfg.exact_rtol, abs_tol=cfg.exact_atol), f"beyond rtol {cfg.exact_rtol:g}"
        else:  # roundoff: the last bits depend on the BLAS kernel's summation order
            tol = cfg.output_error_ulps * EPS.get(ci.get("dtype"), EPS["float32"])
            same, note = abs(c - b) <= tol, f"beyond {cfg.output_error_ulps:g} units of round-off ({tol:.1e})"
        if not same:
            out.append(Finding(case, f"exact:{name}", "regression", b, c, _ratio(c, b), note=note, suite=suite.name))
    return out


def _ratio(c, b) -> float:
    try:
        return c / b if b else (1.0 if c == b else math.inf)
    except TypeError:
        return math.nan


def beyond_min_effect(ratio: float, min_effect: float) -> tuple[bool, bool]:
    """(up, down): whether ``ratio`` is at least 1 + ``min_effect``, or at most its inverse."""
    return ratio >= 1 + min_effect, ratio <= 1 / (1 + min_effect)


def _classify(ratio: float, significant_up: bool, significant_down: bool, min_effect: float,
              bigger_is_worse: bool) -> str:
    worse, better = beyond_min_effect(ratio, min_effect)
    sig_worse, sig_better = significant_up, significant_down
    if not bigger_is_worse:
        worse, better = better, worse
        sig_worse, sig_better = significant_down, significant_up
    if worse and sig_worse:
        return "regression"
    if better and sig_better:
        return "improvement"
    return "unchanged"


def pair_finding(case: str, partner: str, metric: str, base: dict, cur: dict, cfg: GateConfig,
                 suite: str = "") -> Finding:
    """A same-run ratio (partner median / case median, e.g. the speedup) of the run against the baseline's.

    Judged by a bootstrap interval of the ratio of ratios, which must exclude 1, and
    ``cfg.speedup_min_effect``; bigger is better (the case got faster relative to its partner).
    Where both runs timed the case beside its partner in alternating rounds (a paired speedup,
    :mod:`lowrank.record.pairs`), the ratio is of the paired speedups and the interval is
    :func:`lowrank.record.stats.paired_ratio_interval`'s: each run's processes resampled, then
    each one's rounds, as the record's own interval (files without round ratios: the runs'
    stored intervals, :func:`lowrank.record.stats.stored_ratio_interval`); else it is of the
    medians, resampling the four sides' raw samples.
    """
    paired = _paired(base[case]), _paired(cur[case])
    if all(p is not None for p in paired):
        (rb, stored_b), (rc, stored_c) = paired
        sb, sc = stored_b[0], stored_c[0]
        level = f"{100 * (1 - cfg.alpha):g}%"
        found = rb and rc and stats.paired_ratio_interval(rb, rc, 1 - cfg.alpha, cfg.n_boot)
        if found:
            _, low, high = found
            note = f"paired speedups; {level} bootstrap interval, processes then rounds"
        elif all(pairs.is_paired({"paired_speedup": v}) for v in (*stored_b, *stored_c)):
            # Older files kept each run's interval but not its round ratios.
            _, low, high = stats.stored_ratio_interval(stored_b, stored_c, 1 - cfg.alpha)
            note = f"paired speedups; {level} interval from the runs' stored intervals"
        else:
            low = high = None
            note = "paired speedups without an interval: not tested for significance"
        ratio = sc / sb
        status = _classify(ratio, low is not None and low > 1, high is not None and high < 1,
                           cfg.speedup_min_effect, bigger_is_worse=False)
        return Finding(case, metric, status, sb, sc, ratio, low, high, None, note, partner, suite)
    sets = [_samples(cur[partner]), _samples(base[case]), _samples(cur[case]), _samples(base[partner])]
    sb = base[partner]["stats"]["median"] / base[case]["stats"]["median"]
    sc = cur[partner]["stats"]["median"] / cur[case]["stats"]["median"]
    if all(s is not None for s in sets):
        # (ref_c / case_c) / (ref_b / case_b) = ref_c * case_b / (case_c * ref_b)
        ratio, low, high = stats.ratio_interval(sets[:2], sets[2:], confidence=1 - cfg.alpha, n_boot=cfg.n_boot)
        note = f"{100 * (1 - cfg.alpha):g}% bootstrap interval"
    else:
        ratio, low, high = sc / sb, None, None
        note = "no raw samples: not tested for significance"
    status = _classify(ratio, low is not None and low > 1, high is not None and high < 1,
                       cfg.speedup_min_effect, bigger_is_worse=False)
    return Finding(case, metric, status, sb, sc, ratio, low, high, None, note, partner, suite)


def time_finding(case: str, base: dict, cur: dict, cfg: GateConfig) -> Finding:
    """The one judgement of a change in time, shared by the gate and ``lowrank-bench compare``.

    ``base`` and ``cur`` are pytest-benchmark benchmark records (``stats`` with ``median``
    and, when kept, the raw samples ``data``; else ``iqr`` and ``rounds``). A change counts
    when it exceeds ``cfg.time_min_effect`` and is significant at ``cfg.alpha``: one-sided
    Mann–Whitney U tests on the raw samples (asv's rule), or, for files without them, the
    median's standard error from the IQR.
    """
    base_stats, cur_stats = base["stats"], cur["stats"]
    mb, mc = base_stats["median"], cur_stats["median"]
    ratio = mc / mb
    sb, sc = _samples(base), _samples(cur)
    if sb is not None and sc is not None:
        p_up = stats.mann_whitney_greater(sc, sb)
        p_down = stats.mann_whitney_greater(sb, sc)
        status = _classify(ratio, p_up < cfg.alpha, p_down < cfg.alpha, cfg.time_min_effect, True)
        return Finding(case, "time", status, mb, mc, ratio, p_value=min(p_up, p_down), note="Mann-Whitney U")
    z = NormalDist().inv_cdf(1 - cfg.alpha)  # one-sided, as the rank tests
    _, low, high = stats.iqr_ratio_interval(cur_stats, base_stats, z)
    if not math.isfinite(low):
        return Finding(case, "time", "unchanged", mb, mc, ratio, note="no samples or IQR: not tested for significance")
    status = _classify(ratio, low > 1, high < 1, cfg.time_min_effect, True)
    return Finding(case, "time", status, mb, mc, ratio, low, high, None, "median's SE from the IQR (no raw samples)")


def compare_runs(current: dict, baseline: dict, cfg: GateConfig | None = None, allow_missing: bool = False) -> GateResult:
    """Gate ``current`` against ``baseline``; each is a parsed result JSON (dict).

    Baseline cases missing from the run fail the gate unless ``allow_missing``.

    Every suite's benchmarks are gated (``lowrank/record/suites/``), matched by their
    id (``param``, e.g. ``numpy-float32-d1024-k1024-r0016-n001-warm``); the partners of
    a same-run ratio are found by the suite's pairing columns, never by parsing ids.
    """
    cfg = validate_config(cfg or GateConfig())
    counted = _counted(current, baseline)
    cur, base = suite_cases(current), suite_cases(baseline)
    common = sorted(set(cur) & set(base))
    if not common:
        raise LowRankValueError(
            "the run and the baseline have no cases in common "
            f"(run: {len(cur)} cases, baseline: {len(base)}); record a baseline of the same profile"
        )
    absolute, reason = _absolute_policy(current, baseline, cfg)
    findings: list[Finding] = []
    ignored: list[str] = []
    for suite in SUITES.values():
        cur_s, base_s = suite.cases(current), suite.cases(baseline)
        partners, base_partners = suite.partners(cur_s), suite.partners(base_s)
        for case in sorted(set(cur_s) & set(base_s)):
            case_cfg, ignore = cfg.for_case(case)
            findings.extend(exact_findings(case, base_s[case], cur_s[case], case_cfg, suite))
            if ignore:  # timings only: the exact metrics above are judged whatever the override says
                ignored.append(case)
                continue
            if counted:  # a counted run's times are valgrind's: its one timing metric is the count
                finding = instruction_finding(case, base_s[case], cur_s[case], case_cfg, suite.name)
                findings.extend([finding] if finding else [])
                continue
            if case in partners and cfg.ratios == "always":
                pairing, ref = partners[case]
                if base_partners.get(case, (None, None))[1] == ref:
                    findings.append(pair_finding(case, ref, pairing.metric, base_s, cur_s, case_cfg, suite.name))
            if absolute:
                findings.append(replace(time_finding(case, base_s[case], cur_s[case], case_cfg), suite=suite.name))
    if counted:
        absolute, reason = False, "counted runs: no absolute times compared"
    # A refined rank is chosen by each run near its own break-even: one the run did not refine is not missing.
    missing = [c for c in set(base) - set(cur) if not (base[c].get("extra_info") or {}).get("refined")]
    return GateResult(findings, common, absolute, reason, sorted(missing),
                      sorted(set(cur) - set(base)), _incomplete(current), allow_missing,
                      cfg.ratios == "always" and not counted, counted,
                      tuple(counting_differences(baseline, current)) if counted else (), tuple(ignored))


def metric(run: dict) -> str:
    """What a run's cases measured: ``"time"`` or ``"instructions"`` (a counted run)."""
    return run_metric((run.get("machine_info") or {}).get("lowrank_bench"))


# What the gate says when its inputs measured different things.
SAME_METRIC = "a counted run is gated against a counted baseline, a timed run against a timed one"


def runs_metric(named_runs, purpose: str = SAME_METRIC) -> str:
    """The one metric of ``named_runs`` (``(name, parsed run)`` pairs); raises
    :class:`~lowrank.errors.LowRankValueError` naming each one's metric when they differ."""
    return same_metric([(name, metric(run)) for name, run in named_runs], purpose)


def _counted(current: dict, baseline: dict) -> bool:
    return runs_metric([("the run", current), ("the baseline", baseline)]) == "instructions"


def instruction_finding(case: str, base: dict, cur: dict, cfg: GateConfig, suite: str = "") -> Finding | None:
    """Instructions per call of the run against the baseline's, or None when either lacks them.

    No test of significance: the same code and settings count the same to about 0.05%, so a
    change beyond ``cfg.instructions_tolerance`` is the code's.
    """
    b, c = (base.get("extra_info") or {}).get("instructions"), (cur.get("extra_info") or {}).get("instructions")
    if not b or not c:
        return None
    ratio = c / b
    tol = cfg.instructions_tolerance
    status = "regression" if ratio > 1 + tol else "improvement" if ratio < 1 - tol else "unchanged"
    return Finding(case, "instructions", status, b, c, ratio, note=f"tolerance {tol:.2%}", suite=suite)


def counting_differences(baseline: dict, current: dict) -> list[str]:
    """What differs between two counted runs' settings (valgrind, environment, BLAS kernel, versions):
    counts made under other settings are compared, with these named, never silently."""
    def block(run):
        return (run.get("machine_info") or {}).get("lowrank_bench") or {}

    out = []
    b, c = block(baseline), block(current)
    bc, cc = b.get("counting") or {}, c.get("counting") or {}
    for key in ("valgrind", "environment", "engine", "hooks", "aslr"):
        if bc.get(key) != cc.get(key):
            out.append(f"counting {key}: {bc.get(key)!r} -> {cc.get(key)!r}")
    arch = lambda blk: sorted(f"{x.get('internal_api')} {x.get('version')} {x.get('architecture')}"  # noqa: E731
                              for x in blk.get("blas") or [])
    if arch(bc) != arch(cc):
        out.append(f"BLAS kernel: {', '.join(arch(bc)) or '?'} -> {', '.join(arch(cc)) or '?'}")
    bt, ct = (bc.get("threads") or {}).get("requested"), (cc.get("threads") or {}).get("requested")
    if bt != ct:
        out.append(f"threads: {bt} -> {ct}")
    bv, cv = b.get("versions") or {}, c.get("versions") or {}
    for key in sorted(set(bv) | set(cv)):
        if bv.get(key) != cv.get(key):
            out.append(f"{key}: {bv.get(key)} -> {cv.get(key)}")
    return out


def _absolute_policy(current: dict, baseline: dict, cfg: GateConfig) -> tuple[bool, str]:
    """Whether absolute times are compared, and the sentence that says why."""
    fp_cur, fp_base = _fingerprint(current), _fingerprint(baseline)
    th_cur, th_base = _threads(current), _threads(baseline)
    if th_cur != th_base:
        # Times and ratios both depend on the thread count: say so, and never compare absolute times.
        return False, (
            f"thread counts differ (baseline {th_base}, run {th_cur}): absolute times NOT compared, and same-run "
            "ratios are compared across thread counts; record a baseline with the same LOWRANK_BENCH_THREADS"
        )
    if cfg.absolute == "always":
        return True, "absolute times compared (absolute=always)"
    if cfg.absolute == "never":
        return False, "absolute times not compared (absolute=never)"
    if fp_cur is not None and fp_cur == fp_base:
        return True, f"same machine fingerprint ({fp_cur}): absolute times compared"
    return False, (
        f"different machines (fingerprint {fp_base} -> {fp_cur}): absolute times NOT compared; "
        "exact metrics and same-run ratios are"
    )


def _incomplete(run: dict) -> str | None:
    """The run's own word that it is incomplete (``machine_info.lowrank_bench.complete`` false), or None."""
    block = (run.get("machine_info") or {}).get("lowrank_bench") or {}
    if block.get("complete") is not False:
        return None
    planned, done = block.get("cases_planned"), block.get("cases_finished")
    count = f" ({done} of {planned} cases)" if planned else ""
    return f"the run is INCOMPLETE{count}: it was interrupted or a worker failed; re-run it"


def suite_cases(run: dict) -> dict[str, dict]:
    """Every suite's benchmarks of a parsed run, by case id (pytest's ``param``)."""
    out = {}
    for suite in SUITES.values():
        out.update(suite.cases(run))
    return out


def cases_to_rerun(result: GateResult) -> list[str]:
    """Ids of the cases with a timing regression, with the partners their same-run ratios need."""
    ids = set()
    for f in result.regressions:
        if f.kind == "timing":
            ids.add(f.case)
            if f.partner:
                ids.add(f.partner)
    return sorted(ids)


def _threads(run: dict) -> int | None:
    threads = ((run.get("machine_info") or {}).get("lowrank_bench") or {}).get("threads") or {}
    return threads.get("requested")


def _fingerprint(run: dict) -> str | None:
    return ((run.get("machine_info") or {}).get("lowrank_bench") or {}).get("fingerprint")


def confirm(first: GateResult, second: GateResult) -> GateResult:
    """Keep a timing regression of ``first`` only if the re-run ``second`` shows it too.

    A re-run is the cheapest defence against a transient disturbance (another
    process, a frequency change) that hits one run: a real slowdown persists.
    Correctness regressions need no confirmation; a case missing from the re-run
    keeps its verdict.
    """
    again = {(f.case, f.metric) for f in second.regressions}
    rerun_cases = set(second.cases)
    findings = []
    for f in first.findings:
        if f.status == "regression" and f.kind == "timing" and f.case in rerun_cases and (f.case, f.metric) not in again:
            f = replace(f, status="unchanged", note=f"{f.note}; not confirmed by the re-run")
        findings.append(f)
    return replace(first, findings=findings)
