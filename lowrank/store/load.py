"""Read result files into one tidy pandas DataFrame, one row per (run, benchmark).

Accepts what the suite and pytest-benchmark write: a ``--benchmark-json`` file,
the ``.benchmarks/<machine>/NNNN_*.json`` storage of ``--benchmark-save`` /
``--benchmark-autosave``, and ``results/runs/``; folders are searched
recursively. Files are only ever read.

Every problem with a file raises :class:`ResultFileError`, whose message names
the file and what is wrong with it. With ``keep_going=True`` the bad files are
collected in :attr:`LoadResult.errors` and the others are still read.

>>> result = load(["results/runs"])                        # doctest: +SKIP
>>> result.frame.query("suite == 'matvec'").median.describe()  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lowrank.errors import LowRankError
from lowrank.record import checks
from lowrank.record.fields import PANDAS_DTYPES
from lowrank.record.schema import (
    READABLE_VERSIONS,
    SCHEMA_NAME,
    SCHEMA_TAG,
    SCHEMA_VERSION,
    parse_tag,
    run_metric,
    same_metric,
)
from lowrank.record.suites import SUITES
from lowrank.store import documents

# Timing statistics copied from pytest-benchmark's ``stats`` (seconds per iteration).
STAT_FIELDS = ("median", "iqr", "min", "max", "mean", "stddev", "q1", "q3", "rounds", "iterations", "ops")
# Columns every row has, before the extra_info and params columns.
RUN_COLUMNS = (
    "run_id", "file", "fingerprint", "host", "profile", "commit", "dirty", "branch", "datetime", "lowrank_version",
)
BENCH_COLUMNS = ("name", "fullname", "group", "param_id")
# Files still being written. The suite's own (benchmarks/harness/plugin.py) are hidden "*.partial" files that
# the *.json search never sees; this also skips "*.partial.json" names other tools may use.
_PARTIAL_SUFFIX = ".partial.json"
# Hidden files and folders found in a folder are skipped: the staging folders and partial files of a
# command killed half-way (lowrank/store/files.py) are hidden. pytest-benchmark's own storage is hidden
# too, and is read.
_HIDDEN_READ = frozenset({".benchmarks"})
# Column names the loader sets itself; an extra_info field of the same name is stored as extra_<name>.
_RESERVED = frozenset(RUN_COLUMNS + BENCH_COLUMNS + STAT_FIELDS + ("rel_iqr", "n_samples", "samples"))


class ResultFileError(LowRankError, ValueError):
    """A result file (or folder) that cannot be read; the message names it and says what is wrong."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class RunInfo:
    """One result file: where it came from, the machine, the library versions and the calibration."""

    run_id: str
    path: str
    datetime: str
    fingerprint: str
    host: str
    cpu: str
    profile: str
    commit: str
    dirty: bool
    branch: str
    schema: str
    versions: dict = field(default_factory=dict)
    threads: dict = field(default_factory=dict)
    complete: bool = True  # False: the run was interrupted or failed before its last case
    cases_planned: int | None = None
    cases_finished: int | None = None
    processes: int | None = None  # worker passes whose least disturbed median is reported (None: one process)
    timing: dict = field(default_factory=dict)
    devices: dict = field(default_factory=dict)
    calibration: dict = field(default_factory=dict)
    n_benchmarks: int = 0  # this suite's benchmarks in the file (all sub-suites)
    n_foreign: int = 0  # benchmarks without this suite's schema tag: skipped
    suites: dict = field(default_factory=dict)  # sub-suite name -> benchmark count
    metric: str = "time"  # "instructions": a counted run (its stats are valgrind's, not times)

    @property
    def completeness(self) -> str | None:
        """``"INCOMPLETE: 47 of 194 cases"`` for an interrupted run, None for a complete one."""
        if self.complete:
            return None
        done = f": {self.cases_finished} of {self.cases_planned} cases" if self.cases_planned else ""
        return f"INCOMPLETE run{done} (interrupted or failed before its last case)"

    @property
    def label(self) -> str:
        """A short human label: host, profile, commit and time."""
        commit = (self.commit[:7] + ("+" if self.dirty else "")) if self.commit else "no-commit"
        when = self.datetime[:16].replace("T", " ")
        return f"{self.host} {self.profile} {commit} {when}".strip()

    def bandwidth_gbps(self, backend: str) -> float | None:
        """The calibrated DRAM bandwidth roof for ``backend`` (GB/s): the best of STREAM copy, add and dot.

        The suite computes each result's ``roofline_fraction`` with this same rule
        (:func:`lowrank.record.plausibility.bandwidth_roof`).
        """
        from lowrank.record.plausibility import bandwidth_roof

        return bandwidth_roof(self.calibration, backend, "DRAM")

    def peak_gflops(self, backend: str, dtype: str) -> float | None:
        """The calibrated matmul GFLOP/s of ``backend``'s device in ``dtype``, or None when not calibrated.

        The best library's on that device (:func:`lowrank.record.plausibility.compute_roof`),
        as the suite's ``roofline_fraction`` and plausibility guard use it.
        """
        from lowrank.record.plausibility import compute_roof

        return compute_roof(self.calibration, backend, dtype)


@dataclass
class LoadResult:
    """What :func:`load` read: the tidy frame, one :class:`RunInfo` per file, and what it skipped."""

    frame: pd.DataFrame
    runs: list[RunInfo]
    errors: list[ResultFileError] = field(default_factory=list)
    skipped_foreign: int = 0  # benchmarks that are not this suite's, over all files

    def run(self, run_id: str) -> RunInfo:
        for info in self.runs:
            if info.run_id == run_id:
                return info
        raise KeyError(run_id)

    def runs_frame(self) -> pd.DataFrame:
        """One row per run: identity, versions and calibrated roofs."""
        rows = []
        for r in self.runs:
            mem = (r.calibration.get("memory") or {}).get("cpu") or {}
            rows.append({
                "run_id": r.run_id, "label": r.label, "file": r.path, "datetime": r.datetime,
                "fingerprint": r.fingerprint, "host": r.host, "cpu": r.cpu, "profile": r.profile,
                "commit": r.commit, "dirty": r.dirty, "schema": r.schema,
                **{f"version_{k}": v for k, v in sorted(r.versions.items())},
                "threads": (r.threads or {}).get("requested"),
                "copy_gbps": mem.get("copy_gbps"), "add_gbps": mem.get("add_gbps"),
                "n_benchmarks": r.n_benchmarks, "n_foreign": r.n_foreign,
            })
        return pd.DataFrame(rows)


# -- finding files -------------------------------------------------------------------------------
def find_result_files(paths, errors: list | None = None) -> list[Path]:
    """The JSON files named by ``paths`` (files, or folders searched recursively), without duplicates.

    Files a running suite is still writing (``*.partial.json``) are left out, and so are hidden
    files and folders below a folder named (a killed command's staging folder), except
    pytest-benchmark's ``.benchmarks`` storage. A missing path or a folder without JSON raises
    :class:`ResultFileError`, or is appended to ``errors`` when a list is given.
    """
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        try:
            if not path.exists():
                raise ResultFileError(path, "no such file or folder")
            if path.is_dir():
                files = sorted(p for pattern in ("*.json", "*.json.gz") for p in path.rglob(pattern)
                               if p.is_file() and not p.name.endswith(_PARTIAL_SUFFIX)
                               and not _hidden(p.relative_to(path)))
                if not files:
                    raise ResultFileError(path, "folder contains no .json or .json.gz result files (searched "
                                                "recursively, hidden files and folders left out)")
            else:
                files = [path]
        except ResultFileError as exc:
            if errors is None:
                raise
            errors.append(exc)
            continue
        for f in files:
            found.setdefault(f.resolve(), None)
    return list(found)


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") and part not in _HIDDEN_READ for part in relative.parts)


def newest_result_file(folder) -> Path:
    """The most recent ``*.json`` in ``folder`` (by modification time); raises :class:`ResultFileError`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ResultFileError(folder, "folder does not exist; run the benchmarks first (LOWRANK_BENCH_PROFILE=quick "
                                      "pytest benchmarks/ --benchmark-only) or name result files")
    files = [p for p in folder.glob("*.json")
             if p.is_file() and not p.name.endswith(_PARTIAL_SUFFIX) and not _hidden(Path(p.name))]
    if not files:
        raise ResultFileError(folder, "folder contains no .json result files; run the benchmarks first "
                                      "or name result files")
    return max(files, key=lambda p: (p.stat().st_mtime, p.name))


# -- reading one file ----------------------------------------------------------------------------
def run_stem(path: Path) -> str:
    """A result file's name without ``.json`` or ``.json.gz``: the run id it is known by."""
    name = path.name
    for suffix in (".json.gz", ".json", ".gz"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def read_json(path: Path) -> dict:
    """Parse ``path`` as a pytest-benchmark result document, with a clear error for each way it can fail.

    A gzip-compressed file (``*.json.gz``: the committed reference runs, kept small) is read as the
    JSON it holds. The reading is :func:`lowrank.store.documents.parse`, the same the guard on
    outputs uses: what is read here as a result file, no command writes over."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ResultFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        return documents.parse(raw)
    except documents.DocumentError as exc:
        raise ResultFileError(path, exc.problem) from None


def _check_version(path: Path, tag, where: str) -> None:
    version = parse_tag(tag)
    if version is None or version in READABLE_VERSIONS:
        return
    if version > SCHEMA_VERSION:
        raise ResultFileError(
            path, f"{where} uses result schema {tag!r}, newer than this lowrank-bench reads ({SCHEMA_TAG!r}); "
                  "upgrade lowrank-bench to read it")
    raise ResultFileError(path, f"{where} uses result schema {tag!r}, older than this lowrank-bench reads "
                                f"({SCHEMA_TAG!r}) and no longer supported; re-run the benchmarks")


def _run_info(path: Path, doc: dict, run_id: str) -> RunInfo:
    machine = doc.get("machine_info") or {}
    if not isinstance(machine, dict):
        raise ResultFileError(path, "'machine_info' is not a JSON object")
    block = machine.get("lowrank_bench") or {}
    if not isinstance(block, dict):
        raise ResultFileError(path, "machine_info['lowrank_bench'] is not a JSON object")
    if block:
        _check_version(path, block.get("schema"), "the run (machine_info['lowrank_bench'])")
        problems = checks.run_block_problems(block)
        if problems:
            raise ResultFileError(path, problems[0])
    commit = doc.get("commit_info") or {}
    cpu = machine.get("cpu") or {}
    return RunInfo(
        run_id=run_id,
        path=str(path),
        datetime=str(doc.get("datetime") or ""),
        fingerprint=str(block.get("fingerprint") or ""),
        host=str(machine.get("node") or ""),
        cpu=str(cpu.get("brand_raw") or machine.get("processor") or "") if isinstance(cpu, dict) else "",
        profile=str(block.get("profile") or ""),
        commit=str(commit.get("id") or "") if isinstance(commit, dict) else "",
        dirty=bool(commit.get("dirty")) if isinstance(commit, dict) else False,
        branch=str(commit.get("branch") or "") if isinstance(commit, dict) else "",
        schema=str(block.get("schema") or ""),
        versions=dict(block.get("versions") or {}),
        threads=dict(block.get("threads") or {}),
        complete=block.get("complete") is not False,
        cases_planned=block.get("cases_planned") if isinstance(block.get("cases_planned"), int) else None,
        cases_finished=block.get("cases_finished") if isinstance(block.get("cases_finished"), int) else None,
        processes=block.get("processes") if isinstance(block.get("processes"), int) else None,
        timing=dict(block.get("timing") or {}),
        devices=dict(block.get("devices") or {}),
        calibration=dict(block.get("calibration") or {}),
        metric=run_metric(block),
    )


# Sizes a result may record: a dimension or rank beyond this is no measurement (2**31 elements on a side).
MAX_SIZE = 2**31


_positive_time = checks.is_positive  # a time in seconds: a finite number > 0


def _check_sizes(path: Path, name: str, extra: dict) -> None:
    """Shapes, ranks and batches are whole numbers from 1 to :data:`MAX_SIZE`, or null where a suite has
    none (a dense case's rank, a merge's batch)."""
    for key in ("d", "k", "rank", "batch"):
        value = extra.get(key)
        if value is None:  # the suite's record says whether the field may be null
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < MAX_SIZE:
            raise ResultFileError(path, f"benchmark {name!r}: extra_info.{key} = {value!r}; accepted: an integer "
                                        f"from 1 to {MAX_SIZE - 1}")


def _bench_rows(path: Path, doc: dict, info: RunInfo) -> tuple[list[dict], int, Counter]:
    rows, foreign, suites, seen = [], 0, Counter(), {}
    common = {
        "run_id": info.run_id, "file": info.path, "fingerprint": info.fingerprint, "host": info.host,
        "profile": info.profile, "commit": info.commit, "dirty": info.dirty, "branch": info.branch,
        "datetime": info.datetime, "lowrank_version": info.versions.get("lowrank"),
    }
    for i, bench in enumerate(doc["benchmarks"]):
        if not isinstance(bench, dict):
            raise ResultFileError(path, f"benchmark #{i} is not a JSON object")
        name = bench.get("name") or bench.get("fullname") or f"#{i}"
        extra = bench.get("extra_info") or {}
        if not isinstance(extra, dict) or parse_tag(extra.get("schema")) is None:
            foreign += 1
            continue
        _check_version(path, extra["schema"], f"benchmark {name!r}")
        suite = extra.get("suite")
        if not isinstance(suite, str) or not suite:
            raise ResultFileError(path, f"benchmark {name!r} has the {SCHEMA_NAME} tag but no 'suite' field")
        if suite not in SUITES:
            raise ResultFileError(path, f"benchmark {name!r} is of suite {suite!r}, which this version does not know; "
                                        f"known suites: {', '.join(SUITES)}")
        # The range and agreement checks first: their messages name the value and what is accepted.
        problems = checks.record_problems(extra, info.metric)
        if problems:  # the first: one line, naming the case and the field
            raise ResultFileError(path, f"benchmark {name!r}: {problems[0]}")
        extra, problems = SUITES[suite].problems(extra)
        if problems:
            raise ResultFileError(path, f"benchmark {name!r} (suite {suite!r}) does not match schema {SCHEMA_TAG}: "
                                        + "; ".join(problems))
        _check_sizes(path, name, extra)
        fullname = bench.get("fullname") or name
        if fullname in seen:
            raise ResultFileError(path, f"benchmark {fullname!r} appears twice (#{seen[fullname]} and #{i}); a run "
                                        "times each case once, and two copies would be judged differently by "
                                        "different readers")
        seen[fullname] = i
        stats = bench.get("stats")
        if not isinstance(stats, dict) or "median" not in stats:
            raise ResultFileError(path, f"benchmark {name!r} has no timing statistics ('stats.median' missing)")
        if not _positive_time(stats["median"]):
            raise ResultFileError(path, f"benchmark {name!r}: stats.median = {stats['median']!r}; accepted: a "
                                        "finite number of seconds > 0")
        params = bench.get("params") or {}
        data = stats.get("data")
        if data is not None and not isinstance(data, list):
            raise ResultFileError(path, f"benchmark {name!r}: stats.data is {type(data).__name__}; accepted: a list "
                                        "of sample times in seconds")
        for j, value in enumerate(data or []):
            if not _positive_time(value):
                raise ResultFileError(path, f"benchmark {name!r}: stats.data[{j}] = {value!r}; accepted: finite "
                                            "sample times in seconds > 0")
        samples = np.asarray(data, dtype=float) if data else None
        row = {
            **common,
            "name": name,
            "fullname": bench.get("fullname") or name,
            "group": bench.get("group"),
            "param_id": bench.get("param"),
            **({f"param_{k}": v for k, v in params.items()} if isinstance(params, dict) else {}),
            **{(f"extra_{k}" if k in _RESERVED else k): v for k, v in extra.items()},
            **{s: stats.get(s) for s in STAT_FIELDS},
            "rel_iqr": (stats.get("iqr") / stats["median"]) if isinstance(stats.get("iqr"), (int, float)) else np.nan,
            "n_samples": 0 if samples is None else len(samples),
            "samples": samples,
        }
        rows.append(row)
        suites[suite] += 1
    return rows, foreign, suites


def read_run(path, run_id: str | None = None) -> tuple[RunInfo, list[dict]]:
    """Read one result file: its :class:`RunInfo` and a row dict per benchmark of this suite.

    Raises :class:`ResultFileError` when the file is not a pytest-benchmark result, is of
    a schema version this package cannot read, or holds no benchmark of this suite.
    """
    path = Path(path)
    return _parse(path, read_json(path), run_id or run_stem(path))


def read_document(path) -> dict:
    """One result file as its JSON document, validated as :func:`read_run` validates it.

    For the tools that work on pytest-benchmark's records themselves (the gate, baselines,
    export): the file is read and parsed once.
    """
    path = Path(path)
    doc = read_json(path)
    _parse(path, doc, run_stem(path))
    return doc


def _parse(path: Path, doc: dict, run_id: str) -> tuple[RunInfo, list[dict]]:
    info = _run_info(path, doc, run_id)
    rows, foreign, suites = _bench_rows(path, doc, info)
    if not rows:
        # Reporting or gating such a file would "succeed" on nothing: say what it holds instead.
        if foreign:
            first = doc["benchmarks"][0]
            name = first.get("fullname") or first.get("name") if isinstance(first, dict) else None
            raise ResultFileError(path, f"holds {foreign} benchmark(s), none of them lowrank-bench's (no "
                                        f"extra_info['schema'] tag {SCHEMA_NAME!r}; the first is {name!r}): "
                                        "a result file of another project?")
        raise ResultFileError(path, "holds no benchmark results (its 'benchmarks' list is empty: "
                                    "every case skipped or deselected?)")
    info = _replace(info, n_benchmarks=len(rows), n_foreign=foreign, suites=dict(suites))
    return info, rows


def _replace(info: RunInfo, **changes) -> RunInfo:
    from dataclasses import replace

    return replace(info, **changes)


def _unique_ids(files: list[Path]) -> dict[Path, str]:
    """Run ids from file stems; a stem seen twice (.benchmarks/<machine>/0001_*.json) gets its folder name."""
    stems = Counter(run_stem(f) for f in files)
    ids, used = {}, set()
    for f in files:
        stem = run_stem(f)
        base = stem if stems[stem] == 1 else f"{f.parent.name}/{stem}"
        rid, n = base, 1
        while rid in used:
            n += 1
            rid = f"{base}-{n}"
        used.add(rid)
        ids[f] = rid
    return ids


# -- the frame -----------------------------------------------------------------------------------
def load(paths, keep_going: bool = False, log=None) -> LoadResult:
    """Read every result file under ``paths`` into one tidy DataFrame.

    Parameters
    ----------
    paths : iterable of str or Path
        Result files and folders (searched recursively for ``*.json``).
    keep_going : bool
        False: the first bad file raises :class:`ResultFileError`. True: bad files
        are listed in ``errors`` and the others read; it still raises when no file
        could be read at all.
    log : callable or None
        Called with one progress line per file.

    Returns
    -------
    LoadResult
        ``frame`` has one row per (run, benchmark of this suite): the run's id,
        fingerprint, commit and datetime, ``param_*`` columns from pytest-benchmark's
        params, every ``extra_info`` field, the timing stats (seconds), ``rel_iqr``
        and the raw ``samples`` (an array, or None when the file has none). Rows are
        in run order (oldest first), then file order.
    """
    paths = list(paths)
    errors: list[ResultFileError] = []
    files = find_result_files(paths, errors if keep_going else None)
    ids = _unique_ids(files)
    runs, rows, foreign = [], [], 0
    for f in files:
        try:
            info, file_rows = read_run(f, ids[f])
        except ResultFileError as exc:
            if not keep_going:
                raise
            errors.append(exc)
            if log:
                log(f"[load] skipped {exc}")
            continue
        runs.append(info)
        rows.extend(file_rows)
        foreign += info.n_foreign
        if log:
            suites = ", ".join(f"{n} {s}" for s, n in sorted(info.suites.items())) or "none of this suite"
            skipped = f"; {info.n_foreign} from other suites skipped" if info.n_foreign else ""
            warn = f"; {info.completeness}" if info.completeness else ""
            log(f"[load] {f}: {info.n_benchmarks} benchmarks ({suites}){skipped}{warn}")
    if not runs:
        where = ", ".join(str(p) for p in paths) or "(no paths)"
        detail = "; ".join(str(e) for e in errors)
        raise ResultFileError(where, "no readable result file" + (f" ({detail})" if detail else ""))
    order = sorted(range(len(runs)), key=lambda i: (runs[i].datetime, runs[i].run_id))
    runs = [runs[i] for i in order]
    rank_of = {r.run_id: i for i, r in enumerate(runs)}
    frame = _frame(rows)
    if len(frame):
        frame = frame.iloc[np.argsort(frame["run_id"].map(rank_of).to_numpy(), kind="stable")].reset_index(drop=True)
    return LoadResult(frame=frame, runs=runs, errors=errors, skipped_foreign=foreign)


def _frame(rows: list[dict]) -> pd.DataFrame:
    columns = list(RUN_COLUMNS) + list(BENCH_COLUMNS)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=columns + list(SUITES["matvec"].record()) + list(STAT_FIELDS)
                            + ["rel_iqr", "n_samples", "samples"])
    for name, dtype in _column_dtypes().items():
        if name in frame:
            values = pd.to_numeric(frame[name], errors="coerce")
            # Integers stay plain int64 when every row has them; rows of other suites or
            # null ranks (dense) make them pandas' nullable Int64.
            if dtype == "int64":
                dtype = "int64" if values.notna().all() else "Int64"
            frame[name] = values.astype(dtype)
    for name in [c for c in frame.columns if c.startswith("param_") and frame[c].dtype.kind == "f"]:
        values = frame[name]
        if np.all(np.mod(values.dropna(), 1) == 0):
            frame[name] = values.astype("Int64")  # ints that pandas widened to float around missing values
    for name in STAT_FIELDS + ("rel_iqr",):
        if name in frame:
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
    frame["datetime"] = pd.to_datetime(frame["datetime"], errors="coerce", utc=True)
    ordered = [c for c in columns if c in frame] + [c for c in frame.columns if c not in columns]
    return frame[ordered]


def _column_dtypes() -> dict[str, str]:
    """The pandas dtype of every numeric field of every suite's record (int64: nullable when a row lacks it)."""
    out = {}
    for suite in SUITES.values():
        for name, f in suite.record().items():
            dtype = PANDAS_DTYPES.get(f.type)
            if dtype is not None:
                out[name] = "int64" if dtype in ("int64", "Int64") else dtype
    return out


def matvec(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the matvec suite (dense and factored apply), the ones the speed tables are about."""
    if "suite" not in frame:
        return frame.iloc[0:0]
    return frame[frame["suite"] == "matvec"]


def to_csv(frame: pd.DataFrame, path, inputs=()) -> Path:
    """Write ``frame`` as CSV without the raw samples (their count stays in ``n_samples``), atomically.

    Never over one of ``inputs``, a result file or through a symbolic link
    (:func:`lowrank.store.files.replace_text`).
    """
    from lowrank.store.files import replace_text

    return replace_text(path, frame.drop(columns=["samples"], errors="ignore").to_csv(index=False), inputs=inputs,
                        option="CSV output")


def one_metric(result: LoadResult, purpose: str) -> str:
    """The metric every run of ``result`` measured (``"time"`` or ``"instructions"``); raises
    :class:`~lowrank.errors.LowRankValueError` naming each file's metric when they differ
    (:func:`lowrank.record.schema.same_metric`). ``purpose``: what the command does with them."""
    return same_metric([(r.path, r.metric) for r in result.runs], purpose)


def describe_loaded(result: LoadResult) -> str:
    """One line: how many runs and benchmarks were read, and what was skipped."""
    suites = Counter(result.frame["suite"]) if len(result.frame) else Counter()
    parts = [f"{len(result.runs)} run(s), {len(result.frame)} benchmarks"]
    if suites:
        parts.append("(" + ", ".join(f"{n} {s}" for s, n in sorted(suites.items())) + ")")
    if result.skipped_foreign:
        parts.append(f"{result.skipped_foreign} benchmarks of other suites skipped")
    if result.errors:
        parts.append(f"{len(result.errors)} file(s) could not be read")
    incomplete = [r for r in result.runs if not r.complete]
    if incomplete:
        parts.append(f"{len(incomplete)} INCOMPLETE run(s): " + ", ".join(r.run_id for r in incomplete))
    return " ".join(parts)


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
