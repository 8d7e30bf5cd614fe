"""``lowrank-bench ab``: two revisions, or two Python environments, timed in one job.

The two sides run the suite (``pytest benchmarks/ --benchmark-only``) in alternating
processes on one machine, round by round and backend by backend: round 1 runs base
then head, round 2 head then base (ABBA, as asv's continuous mode and duet
benchmarking do), so that machine drift and process-to-process variation hit both
sides alike. Each process times one backend (no other library's thread pool is awake)
and is one data point per case; :mod:`lowrank.judge.paired` judges the rounds' paired
log ratios, and stops early once every case is decided.

A side is a git revision, checked out as a detached worktree of the repository (so
its results record its commit), or ``.`` for the working tree as it is, uncommitted
changes included; and a Python interpreter (default: this one) whose environment
provides numpy, torch and pytest-benchmark. Each side's code is imported from its own
tree (``PYTHONPATH``), not from the installed package.

With ``metric="instructions"`` (:func:`run_counted`) each side is one counted run instead
(``LOWRANK_BENCH_METRIC=instructions``: instructions per call under valgrind's callgrind, one
thread) of the suites whose cost is the library's own code (:data:`COUNTED_TARGETS`). Counts do
not move with the machine's load, so no rounds are needed and the two sides run at once.

Only the suite's documented interface is used (``LOWRANK_BENCH_*`` variables and
``--benchmark-json``), so any revision whose suite honours those can be a side.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lowrank.errors import LowRankError
from lowrank.judge import paired
from lowrank.record import merging
from lowrank.record.suites import SUITES
from lowrank.runner import launch

WORKING_TREE = "."
SIDES = ("base", "head")
# What a counted A/B counts: the library's own code paths (the operator's apply against the bare
# product, LoRA's forward and merge, the factorizations). The matvec grid is BLAS's and memory's
# cost, which counts do not see, and its large shapes take minutes each under valgrind.
COUNTED_TARGETS = ("benchmarks/bench_overhead.py", "benchmarks/bench_lora.py", "benchmarks/bench_factorize.py")


class AbError(LowRankError, ValueError):
    """An A/B comparison that cannot run: a revision, an interpreter, a failed process."""


@dataclass(frozen=True)
class Side:
    """One side of the comparison."""

    label: str  # "base" or "head"
    revision: str  # as given: a git revision, or "." for the working tree
    python: str  # the interpreter that runs its processes
    commit: str | None = None  # the revision's commit (the working tree's HEAD for ".")

    @property
    def description(self) -> str:
        what = "working tree" if self.revision == WORKING_TREE else self.revision
        commit = f" ({self.commit[:12]})" if self.commit else ""
        python = "" if self.python == sys.executable else f", python {self.python}"
        return f"{what}{commit}{python}"


@dataclass(frozen=True)
class AbSettings:
    """What is run and how it is judged."""

    profile: str = "quick"
    threads: int = 1
    backends: tuple[str, ...] = ("numpy", "torch-cpu")
    select: str | None = None  # a pytest -k expression
    min_rounds: int = 6
    max_rounds: int = 15
    check_every: int = 3  # rounds between looks at the verdicts, after min_rounds
    threshold: float = 0.05
    alpha: float = 0.05
    accept: tuple[str, ...] = ()  # globs of cases whose slowdown is intended: reported, not failed

    def accepted(self, case: str) -> bool:
        """Whether a glob of ``accept`` names ``case``: ``*`` and ``?`` are wildcards, brackets are literal
        (a case is ``bench_matvec[numpy-...]``: ``bench_matvec[*-dense-*]`` means what it says)."""
        return any(fnmatch.fnmatchcase(case, pattern.replace("[", "[[]")) for pattern in self.accept)

    def __post_init__(self):
        if not 2 <= self.min_rounds <= self.max_rounds:
            raise AbError(f"rounds: accepted 2 <= min_rounds <= max_rounds, got min {self.min_rounds}, "
                          f"max {self.max_rounds}")
        if self.check_every < 1:
            raise AbError(f"check_every={self.check_every}: accepted an integer >= 1")
        if not 0 < self.alpha < 1 or not 0 < self.threshold < 1:
            raise AbError(f"alpha={self.alpha}, threshold={self.threshold}: accepted values in (0, 1)")
        if self.threads < 1:
            raise AbError(f"threads={self.threads}: accepted an integer >= 1")

    @property
    def looks(self) -> list[int]:
        """The rounds after which verdicts are looked at (early stopping)."""
        rounds = list(range(self.min_rounds, self.max_rounds + 1, self.check_every))
        return rounds if rounds[-1] == self.max_rounds else [*rounds, self.max_rounds]


@dataclass
class AbRun:
    """What an A/B run measured: every process's document, by side, and the verdicts."""

    sides: dict[str, Side]
    settings: AbSettings
    docs: dict[str, list] = field(default_factory=lambda: {s: [] for s in SIDES})  # side -> [(round, doc)]
    judgement: paired.Judgement | None = None
    rounds: int = 0
    seconds: float = 0.0

    @property
    def stopped_early(self) -> bool:
        return self.rounds < self.settings.max_rounds


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise AbError(f"git {' '.join(args)} failed in {repo}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


def repository_root(path: Path) -> Path:
    """The top folder of the git repository holding ``path``."""
    try:
        return Path(git(path, "rev-parse", "--show-toplevel"))
    except AbError:
        raise AbError(f"{path} is not inside a git repository: ab compares revisions of one") from None


_PROBE = "import sys, numpy, pytest, pytest_benchmark; print('lowrank-bench-probe', sys.version_info[0])"


def check_interpreter(label: str, python: str) -> None:
    """Raise :class:`AbError` unless ``python`` is a Python that can run the suite (before any timing).

    It must print what it was asked to: a program that exits 0 whatever it is given (``/bin/true``)
    is no interpreter.
    """
    try:
        proc = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AbError(f"--{label}-python {python}: cannot be run ({exc})") from None
    if proc.returncode != 0 or "lowrank-bench-probe 3" not in proc.stdout:
        why = (proc.stderr.strip().splitlines() or ["it printed nothing a Python would"])[-1]
        raise AbError(f"--{label}-python {python}: not a Python that can run the suite (it needs numpy, pytest "
                      f"and pytest-benchmark): {why}")


def resolve(repo: Path, label: str, revision: str, python: str | None) -> Side:
    """A :class:`Side` with its commit; raises :class:`AbError` naming a revision or interpreter that does not exist."""
    python = python or sys.executable
    if shutil.which(python) is None and not Path(python).is_file():
        raise AbError(f"--{label}-python {python}: no such interpreter")
    if python != sys.executable:
        check_interpreter(label, python)
    if revision == WORKING_TREE:
        try:
            commit = git(repo, "rev-parse", "HEAD")
        except AbError:
            commit = None
        return Side(label, revision, python, commit)
    try:
        commit = git(repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    except AbError:
        raise AbError(f"{label} revision {revision!r} is not a commit of {repo} "
                      f"(accepted: a branch, tag or commit, or {WORKING_TREE!r} for the working tree)") from None
    return Side(label, revision, python, commit)


@contextmanager
def checkout(repo: Path, side: Side, scratch: Path):
    """The folder whose code ``side`` runs: the repository itself for ``.``, else a temporary detached worktree."""
    if side.revision == WORKING_TREE:
        yield repo
        return
    tree = scratch / f"tree-{side.label}"
    git(repo, "worktree", "add", "--detach", "--force", str(tree), side.commit)
    try:
        yield tree
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], capture_output=True)


def run_process(side: Side, tree: Path, backend: str, round_no: int, settings: AbSettings,
                workdir: Path) -> dict | None:
    """One process of one side: the suite over one backend's cases; its document (None: nothing selected)."""
    out = workdir / f"{side.label}-{round_no:02d}-{backend}.json"
    settings_env = {"LOWRANK_BENCH_PROFILE": settings.profile, "LOWRANK_BENCH_THREADS": str(settings.threads),
                    "LOWRANK_BENCH_PROCESSES": "1", "LOWRANK_BENCH_BACKENDS": backend,
                    "LOWRANK_BENCH_OUTPUT": str(workdir)}
    # The revision's own suite and library (its worktree first on the path), in the side's interpreter; the
    # user's other LOWRANK_BENCH_* settings (shapes, ranks, ...) apply to both sides alike.
    path = os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = launch.launch(["benchmarks/"], settings_env, cwd=tree, json_path=out, select=settings.select,
                         python=side.python, extra_env={"PYTHONPATH": path, "MPLBACKEND": "Agg"}, keep_settings=True)
    if proc.returncode == 5 or (proc.returncode == 0 and not out.exists()):
        return None  # no case of this backend selected
    if proc.returncode != 0:
        tail = launch.output_tail(proc)
        raise AbError(f"the {side.label} side ({side.description}) failed on {backend} in round {round_no} "
                      f"(exit {proc.returncode}); its output ends:\n{tail}")
    return json.loads(out.read_text())


def run_counted_side(side: Side, tree: Path, settings: AbSettings, workdir: Path) -> dict:
    """One side of a counted A/B: one counted run of :data:`COUNTED_TARGETS` over every backend; its document."""
    out = workdir / f"{side.label}-counted.json"
    settings_env = {"LOWRANK_BENCH_PROFILE": settings.profile, "LOWRANK_BENCH_METRIC": "instructions",
                    "LOWRANK_BENCH_THREADS": "1", "LOWRANK_BENCH_PROCESSES": "1",
                    "LOWRANK_BENCH_BACKENDS": ",".join(settings.backends), "LOWRANK_BENCH_OUTPUT": str(workdir)}
    path = os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    targets = [t for t in COUNTED_TARGETS if (tree / t).is_file()]
    if not targets:
        raise AbError(f"the {side.label} side ({side.description}) has none of the counted suites "
                      f"({', '.join(COUNTED_TARGETS)})")
    proc = launch.launch(targets, settings_env, cwd=tree, json_path=out, select=settings.select, python=side.python,
                         extra_env={"PYTHONPATH": path, "MPLBACKEND": "Agg"}, keep_settings=True)
    if proc.returncode == 5 or (proc.returncode == 0 and not out.exists()):
        raise AbError(f"no case was counted on the {side.label} side: check -k and --backend "
                      f"(selection {settings.select!r}, backends {', '.join(settings.backends)})")
    if proc.returncode != 0:
        raise AbError(f"the {side.label} side ({side.description}) failed its counted run (exit {proc.returncode}); "
                      f"its output ends:\n{launch.output_tail(proc)}")
    return read_counted(side, out)


def read_counted(side: Side, path: Path) -> dict:
    """One side's counted run, validated as every command validates a result file (a null or negative
    count is refused, not left out of the verdict): :class:`AbError` names the side and the problem."""
    from lowrank.store.load import ResultFileError, read_document

    try:
        return read_document(path)
    except ResultFileError as exc:
        raise AbError(f"the {side.label} side ({side.description}) wrote a counted run that cannot be judged: "
                      f"{exc.problem}") from None


def run_counted(repo: Path, sides: dict[str, Side], settings: AbSettings, workdir: Path, log=print) -> dict[str, dict]:
    """Count both sides at once (instructions do not depend on the load, so neither side disturbs the
    other's figures; 3.8-4.0 min for the CI selection here); each side's counted document, by label."""
    from concurrent.futures import ThreadPoolExecutor

    start = time.perf_counter()
    with ExitStack() as stack:
        trees = {label: stack.enter_context(checkout(repo, side, workdir)) for label, side in sides.items()}
        log(f"[ab] counting both sides at once under valgrind ({', '.join(settings.backends)}; "
            f"{', '.join(Path(t).name for t in COUNTED_TARGETS)}) ...")
        with ThreadPoolExecutor(max_workers=len(SIDES)) as pool:
            futures = {label: pool.submit(run_counted_side, sides[label], trees[label], settings, workdir)
                       for label in SIDES}
            docs = {label: future.result() for label, future in futures.items()}
    log(f"[ab] counted {len(docs['base']['benchmarks'])} and {len(docs['head']['benchmarks'])} cases in "
        f"{time.perf_counter() - start:.0f} s")
    return docs


def _own_cases(doc: dict, backend: str) -> dict:
    """The document with only its backend's cases (a suite that ignores LOWRANK_BENCH_BACKENDS times others too)."""
    keep = [b for b in doc.get("benchmarks", []) if (b.get("extra_info") or {}).get("backend") in (backend, None)]
    return {**doc, "benchmarks": keep}


def medians_by_round(docs: list) -> dict[str, dict[int, tuple[dict, float]]]:
    """``fullname -> {round: (extra_info, median)}`` from one side's ``(round, doc)`` list."""
    out: dict[str, dict[int, tuple[dict, float]]] = {}
    for round_no, doc in docs:
        for bench in doc.get("benchmarks", []):
            info = bench.get("extra_info") or {}
            median = (bench.get("stats") or {}).get("median")
            if info.get("suite") in SUITES and median:
                out.setdefault(bench["fullname"], {})[round_no] = (info, float(median))
    return out


def ratio_rounds(docs: list) -> dict[str, tuple[dict, dict[int, float]]]:
    """``"case metric" -> (extra_info, {round: time of the case / time of its partner})`` from one side's
    processes: each suite's same-run pairings, within each process (for a paired case, 1 / its
    paired speedup: the median of its alternating rounds' ratios)."""
    out: dict[str, tuple[dict, dict[int, float]]] = {}
    for round_no, doc in docs:  # one process each: a pairing's cases share its backend, so its process
        for suite in SUITES.values():
            cases = suite.cases(doc)
            for case, (pairing, ref) in suite.partners(cases).items():
                value = pairing.value(cases[case], cases[ref])  # the process's paired figure where it has one
                if value:
                    name = f"{cases[case]['name']} {pairing.metric}"
                    out.setdefault(name, (cases[case].get("extra_info") or {}, {}))[1][round_no] = 1 / value
    return out


def case_rounds(run: AbRun) -> dict[str, paired.CaseRounds]:
    """Every case both sides timed, with its process medians by round (``bench_matvec[numpy-...]``), and
    every same-run ratio (``bench_apply_overhead[apply-numpy] vs_bare``)."""
    base, head = medians_by_round(run.docs["base"]), medians_by_round(run.docs["head"])
    out = {}
    for name in sorted(set(base) & set(head)):
        info = next(iter(head[name].values()))[0]
        out[name.rsplit("::", 1)[-1]] = paired.CaseRounds(
            info["suite"], info.get("backend") or "", {r: m for r, (_, m) in base[name].items()},
            {r: m for r, (_, m) in head[name].items()})
    base_r, head_r = ratio_rounds(run.docs["base"]), ratio_rounds(run.docs["head"])
    for name in sorted(set(base_r) & set(head_r)):
        info = head_r[name][0]
        out[name] = paired.CaseRounds(info["suite"], info.get("backend") or "", base_r[name][1], head_r[name][1],
                                      metric=name.rsplit(" ", 1)[1])
    return out


def judge(run: AbRun) -> paired.Judgement:
    s = run.settings
    return paired.judge(case_rounds(run), threshold=s.threshold, alpha=s.alpha, looks=len(s.looks))


def run_ab(repo: Path, sides: dict[str, Side], settings: AbSettings, workdir: Path, log=print) -> AbRun:
    """Run both sides in alternating processes until every case is decided or ``max_rounds``; the :class:`AbRun`."""
    run = AbRun(sides, settings)
    start = time.perf_counter()
    looks = set(settings.looks)
    with ExitStack() as stack:
        trees = {label: stack.enter_context(checkout(repo, side, workdir)) for label, side in sides.items()}
        for round_no in range(1, settings.max_rounds + 1):
            order = SIDES if round_no % 2 else SIDES[::-1]
            for backend in settings.backends:
                for label in order:
                    t0 = time.perf_counter()
                    doc = run_process(sides[label], trees[label], backend, round_no, settings, workdir)
                    if doc is None:
                        continue
                    doc = _own_cases(doc, backend)
                    run.docs[label].append((round_no, doc))
                    log(f"[ab] round {round_no}/{settings.max_rounds}: {label} {backend}: "
                        f"{len(doc['benchmarks'])} cases in {time.perf_counter() - t0:.1f} s")
            if not run.docs["base"] or not run.docs["head"]:
                raise AbError("no case was timed on both sides: check -k and --backend "
                              f"(selection {settings.select!r}, backends {', '.join(settings.backends)})")
            run.rounds = round_no
            if round_no in looks:
                run.judgement = j = judge(run)
                log(f"[ab] after {round_no} rounds: " + ", ".join(f"{j.count(v)} {v}" for v in paired.VERDICTS)
                    + f"; {len(j.disturbed)} disturbed process(es) left out; {j.open_cases} case(s) not decided yet")
                if j.open_cases == 0:
                    break
    run.seconds = time.perf_counter() - start
    return run


def pooled(run: AbRun, label: str) -> dict:
    """One side's processes pooled into one result document (every round's median kept, in round order)."""
    docs = run.docs[label]
    merged = merging.merge_passes(docs)
    block = merged.setdefault("machine_info", {}).setdefault("lowrank_bench", {})
    complete = all(((d.get("machine_info") or {}).get("lowrank_bench") or {}).get("complete", True) for _, d in docs)
    block.update(merging.merged_block(docs, merged, complete, run.rounds))
    side = run.sides[label]
    block["ab"] = {"side": label, "revision": side.revision, "commit": side.commit, "python": side.python,
                   "rounds": run.rounds, "order": "ABBA: base first in odd rounds, head first in even rounds"}
    return merged
