"""One-command performance benchmark of kb against an SQLite FTS5 reference.

Why: the figures users feel are whole commands -- ``kb reindex`` after an edit,
a cold ``kb search`` from a shell -- so those are timed as fresh processes
(``sys.executable -m kb``), interpreter start-up and imports included.  The
API's warm ``search()`` latency is timed separately, in one long-lived process.
Every kb figure stands next to the same measurement of ``fts5_ref.py`` so that a
reader can tell "slow" from "as fast as this machine allows".

Usage::

    python benchmarks/run.py                      # 100 and 1,000 pages
    python benchmarks/run.py --large              # also 10,000 pages
    python benchmarks/run.py --sizes 300,3000 --write docs/performance.md

kb must be importable by the child processes: install it, or point
``PYTHONPATH`` (or ``--kb-path``) at the checkout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gensite  # noqa: E402  (sibling module, path set just above)

FTS5_SCRIPT = HERE / "fts5_ref.py"
TANTIVY_SCRIPT = HERE / "tantivy_ref.py"
MEASURE_SCRIPT = HERE / "measure.py"
MARK_START, MARK_END = "<!-- bench:start -->", "<!-- bench:end -->"
#: kb, FTS5 over kb's own sections (isolates the indexing engine), tantivy over kb's own sections (a compiled
#: Lucene-style engine: the yardstick for kb's Whoosh index), FTS5 with a trivial heading splitter (the end-to-end
#: floor: what a C engine + regex costs).
ENGINES = ("kb", "fts5", "tantivy", "fts5-simple")
FTS5_SPLITTER: str | None = None  # set from --fts5-splitter; None = kb's own splitter if importable

# --------------------------------------------------------------------------
# Running child processes and measuring them.
# --------------------------------------------------------------------------


@dataclass
class Run:
    """One child process: wall time, peak RSS of its largest process, peak PSS of its tree, exit code, output."""

    wall: float
    maxrss_mb: float
    rc: int
    stdout: str
    stderr: str
    tree_mb: float = 0.0
    cpu: float = 0.0

    def json(self) -> dict[str, Any]:
        """The last JSON object printed on stdout (kb may print other lines first)."""
        for line in reversed(self.stdout.strip().splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        raise ValueError(f"no JSON in output: {self.stdout[-300:]!r} {self.stderr[-500:]!r}")


def run_measured(cmd: Sequence[str], env: dict[str, str]) -> Run:
    """Run ``cmd`` under ``measure.py`` (a small fresh parent) for its wall time and memory.

    Not from this process: Linux folds the parent's peak RSS into an exec'd child's ``ru_maxrss``, so a child of
    the harness (which holds generated sites in memory) reported the harness's peak, the same for every engine.
    The wall time is taken inside the wrapper, around the command alone.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(suffix=".json") as stats:
        proc = subprocess.run([sys.executable, str(MEASURE_SCRIPT), stats.name, "--", *cmd], stdout=out,
                              stderr=err, env=env)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
        try:
            got = json.loads(Path(stats.name).read_text(encoding="utf-8"))
        except ValueError:
            return Run(0.0, 0.0, proc.returncode or 99, stdout, stderr + "\nmeasure.py wrote no figures")
        return Run(got["wall"], got["maxrss_kb"] / 1024, got["rc"], stdout, stderr, got["peak_tree_pss_kb"] / 1024,
                   got.get("cpu", 0.0))


def engine_cmd(engine: str, site: Path, index: Path) -> list[str]:
    """The CLI prefix of an engine, pointed at one content folder and index."""
    if engine == "kb":
        return [sys.executable, "-m", "kb", "--content", str(site), "--index", str(index)]
    splitter = "simple" if engine == "fts5-simple" else FTS5_SPLITTER
    if engine == "tantivy":
        return [sys.executable, str(TANTIVY_SCRIPT), "--content", str(site), "--dir", str(index / "tantivy")] + (
            ["--splitter", splitter] if splitter else [])
    return [sys.executable, str(FTS5_SCRIPT), "--content", str(site), "--db", str(index / "fts5.sqlite")] + (
        ["--splitter", splitter] if splitter else [])


def child_env(kb_path: str | None) -> dict[str, str]:
    """Environment for children: kb importable, and bytecode cached as on a user's install.

    With PYTHONDONTWRITEBYTECODE set (some sandboxes set it) every fresh process would compile kb's modules from
    source again, which a user's installed kb never does: the figures would be start-up compile time. The table
    compares lexical engines, so kb runs without the semantic model unless KB_MODEL says otherwise (with the
    `semantic` extra installed a full reindex would embed every passage: benchmarks/semantic.py measures that).
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("KB_MODEL", "none")
    if kb_path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (kb_path, env.get("PYTHONPATH")) if p)
    return env


def compile_kb(env: dict[str, str]) -> None:
    """Write kb's (and the references') bytecode once, before anything is timed."""
    probe = subprocess.run([sys.executable, "-c", "import kb, os; print(list(kb.__path__)[0])"], env=env,
                           capture_output=True, text=True)
    dirs = [d for d in [probe.stdout.strip()] if probe.returncode == 0 and d] + [str(HERE)]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs], env=env, capture_output=True)


def median_wall(cmds: Sequence[Sequence[str]], env: dict[str, str], ok_codes: tuple[int, ...] = (0,)) -> tuple[float, int]:
    """Median wall time over ``cmds`` and how many of them failed."""
    wall, _cpu, failed = median_wall_cpu(cmds, env, ok_codes)
    return wall, failed


def median_wall_cpu(cmds: Sequence[Sequence[str]], env: dict[str, str], ok_codes: tuple[int, ...] = (0,)
                    ) -> tuple[float, float, int]:
    """Median wall time and median CPU time (user + system, load-independent) over ``cmds``, and failures."""
    return medians([run_measured(c, env) for c in cmds], ok_codes)


def medians(runs: Sequence[Run], ok_codes: tuple[int, ...]) -> tuple[float, float, int]:
    return (statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs),
            sum(r.rc not in ok_codes for r in runs))


def alternating_floor(cmds: Sequence[Sequence[str]], env: dict[str, str]) -> tuple[list[float], list[Run]]:
    """Run each command right after an `import whoosh.index` process: the floor's CPU times, and the runs.

    This machine's speed drifts by up to a third over minutes (a VM): the floor measured once at the start of a
    run against cold searches measured minutes later gave 1.85x where the two taken alternately gave 2.5x. So the
    ratio #15 asks for (cold search / floor) is taken from pairs measured at the same moment.
    """
    floors, runs = [], []
    for cmd in cmds:
        floors.append(run_measured([sys.executable, "-c", "import whoosh.index"], env).cpu)
        runs.append(run_measured(cmd, env))
    return floors, runs


# --------------------------------------------------------------------------
# Warm in-process latency (runs inside a child: ``run.py _warm ...``).
# --------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: honest for 200 samples)."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def open_searcher(engine: str, site: str, index: str) -> Callable[[str], int]:
    """A function query -> total hits, backed by kb's API or the FTS5 reference."""
    if engine == "kb":
        from kb import KnowledgeBase  # type: ignore[import-not-found]

        kb = KnowledgeBase(site, index)
        return lambda q: kb.search(q, limit=10).total
    if engine == "tantivy":
        import tantivy_ref

        tv = tantivy_ref.TantivyReference(site, Path(index) / "tantivy")
        return lambda q: tv.search(q, limit=10).total
    import fts5_ref

    ref = fts5_ref.Fts5Reference(site, Path(index) / "fts5.sqlite")
    return lambda q: ref.search(q, limit=10).total


def warm_main(engine: str, site: str, index: str, queries_file: str) -> None:
    """Time every query once after a warm-up query; print latencies as JSON."""
    queries = json.loads(Path(queries_file).read_text(encoding="utf-8"))
    search = open_searcher(engine, site, index)
    search(queries[0])  # open the index, fill caches: we time the steady state
    lat, cpu, zero, errors = [], [], 0, []
    for q in queries:
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            zero += search(q) == 0
        except Exception as exc:  # a failing query is a finding, not a crash
            errors.append(f"{q!r}: {type(exc).__name__}: {exc}")
        lat.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    print(json.dumps({"latencies": lat, "cpu": cpu, "zero_hits": zero, "errors": errors[:10],
                      "n_errors": len(errors)}))


# --------------------------------------------------------------------------
# One site size.
# --------------------------------------------------------------------------


@dataclass
class EngineResult:
    """Every figure for one engine at one site size (None = failed/not run)."""

    full_s: float | None = None
    sections: int | None = None
    full_rss_mb: float | None = None
    full_tree_mb: float | None = None
    noop_s: float | None = None
    edit1_s: float | None = None
    add10_s: float | None = None
    del10_s: float | None = None
    cold_search_s: float | None = None
    cold_search_cpu_s: float | None = None
    floor_cpu_s: float | None = None  # `import whoosh.index`, run alternately with kb's cold searches
    warm_p50_ms: float | None = None
    warm_p95_ms: float | None = None
    warm_p99_ms: float | None = None
    warm_cpu_p50_ms: float | None = None
    warm_cpu_p99_ms: float | None = None
    zero_hit_queries: int | None = None
    index_mb: float | None = None
    errors: list[str] = field(default_factory=list)
    cold_cpu_by_query: list[float] = field(default_factory=list)  # each query's median CPU s over the rounds
    floor_cpu_runs: list[float] = field(default_factory=list)
    warm_rounds: list[dict[str, float]] = field(default_factory=list)  # each round's warm figures

    @property
    def sections_per_s(self) -> float | None:
        return self.sections / self.full_s if self.sections and self.full_s else None


@dataclass
class SizeResult:
    pages: int
    markdown_mb: float
    generate_s: float
    engines: dict[str, EngineResult]
    rg_cold_s: float | None = None


def reindex(engine: str, site: Path, index: Path, env: dict[str, str], res: EngineResult,
            full: bool = False) -> Run | None:
    """One ``reindex`` as a fresh process; failures are recorded, not raised."""
    cmd = engine_cmd(engine, site, index) + ["reindex", "--json"] + (["--full"] if full else [])
    run = run_measured(cmd, env)
    if run.rc != 0:
        res.errors.append(f"reindex{' --full' if full else ''} exited {run.rc}: {last_line(run.stderr)}")
        return None
    return run


def last_line(text: str) -> str:
    """The last non-empty line of stderr: for a traceback, the exception itself."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "(no stderr)"


def dir_mb(path: Path) -> float:
    """Bytes of all files under ``path``, in MB."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def bench_size(pages: int, seed: int, env: dict[str, str], repeats: int, n_queries: int,
               workdir: Path, log: Callable[[str], None], rounds: int = 3) -> SizeResult:
    """Generate a site of ``pages`` pages and measure both engines on it."""
    site = workdir / f"site-{pages}"
    start = time.perf_counter()
    gensite.generate_site(site, pages, seed)
    gen_s = time.perf_counter() - start
    queries = gensite.make_queries(site, n_queries, seed)
    qfile = workdir / f"queries-{pages}.json"
    qfile.write_text(json.dumps(queries), encoding="utf-8")
    results = {e: EngineResult() for e in ENGINES}
    indexes = {e: workdir / f"index-{e}-{pages}" for e in ENGINES}
    for idx in indexes.values():
        idx.mkdir()

    def each(label: str, action: Callable[[str], None]) -> None:
        for e in ENGINES:
            log(f"  {pages} pages: {label} [{e}]")
            action(e)

    def full(e: str) -> None:
        run = reindex(e, site, indexes[e], env, results[e], full=True)
        if run:
            results[e].full_s, results[e].full_rss_mb, results[e].full_tree_mb = run.wall, run.maxrss_mb, run.tree_mb
            results[e].sections = int(run.json().get("sections", 0))

    def timed(attr: str) -> Callable[[str], None]:
        def act(e: str) -> None:
            run = reindex(e, site, indexes[e], env, results[e])
            if run:
                setattr(results[e], attr, run.wall)
        return act

    each("full reindex", full)
    each("no-op reindex", timed("noop_s"))
    gensite.edit_page(site, seed)
    each("reindex after editing 1 page", timed("edit1_s"))
    gensite.add_pages(site, 10, seed)
    each("reindex after adding 10 pages", timed("add10_s"))
    gensite.delete_pages(site, 10, seed)
    each("reindex after deleting 10 pages", timed("del10_s"))
    each("cold search", lambda e: cold_search(e, site, indexes[e], env, queries[:repeats], results[e], rounds))
    log(f"  {pages} pages: cold search [rg]")
    rg = rg_search(site, queries[:repeats], env)
    warm: dict[str, list[dict[str, float]]] = {e: [] for e in ENGINES}
    for n in range(rounds):
        each(f"warm search, round {n + 1} of {rounds}",
             lambda e: warm_round(e, site, indexes[e], env, qfile, results[e], warm[e]))
    for e in ENGINES:
        warm_medians(results[e], warm[e])
    for e in ENGINES:
        results[e].index_mb = dir_mb(indexes[e]) if results[e].full_s is not None else None
    return SizeResult(pages, dir_mb(site), gen_s, results, rg)


def rg_command(site: Path, query: str) -> list[str] | None:
    """What a user would type instead of kb: ripgrep for the query's words (any of them), case-insensitive,
    whole words, listing the files. None when ripgrep is not installed (Debian package `ripgrep`)."""
    rg = shutil.which("rg")
    words = [w for w in query.replace('"', " ").replace("*", " ").split() if w]
    if rg is None or not words:
        return None
    return [rg, "-i", "-w", "-F", "-l", *[arg for w in words for arg in ("-e", w)], "--", str(site)]


def rg_search(site: Path, queries: Sequence[str], env: dict[str, str]) -> float | None:
    """Median wall time of ripgrep over the Markdown for the cold-search queries (the no-index reference)."""
    cmds = [c for q in queries for c in [rg_command(site, q)] if c]
    return median_wall(cmds, env, ok_codes=(0, 1))[0] if cmds else None


def cold_search(engine: str, site: Path, index: Path, env: dict[str, str], queries: Sequence[str],
                res: EngineResult, rounds: int = 1) -> None:
    """Median over the queries of ``search Q --json`` as fresh processes, each query's figure the median of its
    `rounds` runs (the rounds go over all the queries in turn, so each query's runs are spread over the minute).

    Each command runs once untimed first, for every engine: a fresh process, but the files it reads in the page
    cache, as the floor's are (it reads the same .pyc files every time). Without this pass a cold search measured
    whatever the previous engine's run had left cached: this host keeps ~420 MB of file pages, less than a
    10,000-page site with its indexes, and one run's FTS5 cold search took 0.051 s, another's 0.086 s.

    Rounds: the benchmark's queries cost two ways (a rare word's search ~90 CPU-ms at 10,000 pages, a common
    word's 110-180), and the median of ten falls between the two groups, so one run's spike (this VM's processes
    jump by up to 25 ms now and then) moved a run's kb median from ~94 to ~108 ms and its ratio from 1.76x to 2.11x
    with the same code. A query's median of three runs is not moved by one spike."""
    cmds = [engine_cmd(engine, site, index) + ["search", q, "--json"] for q in queries]
    for cmd in cmds:
        run_measured(cmd, env)
    per_query: list[list[Run]] = [[] for _ in cmds]
    floors: list[float] = []
    for _ in range(max(1, rounds)):
        if engine == "kb":
            floor_runs, runs = alternating_floor(cmds, env)
            floors += floor_runs
        else:
            runs = [run_measured(c, env) for c in cmds]
        for got, run in zip(per_query, runs):
            got.append(run)
    if floors:
        res.floor_cpu_s, res.floor_cpu_runs = statistics.median(floors), floors
    failed = sum(any(r.rc not in (0, 1) for r in got) for got in per_query)  # kb exits 1 for "no hits", like grep
    if failed == len(cmds):
        return
    res.cold_search_s = statistics.median(statistics.median(r.wall for r in got) for got in per_query)
    res.cold_cpu_by_query = [statistics.median(r.cpu for r in got) for got in per_query]
    res.cold_search_cpu_s = statistics.median(res.cold_cpu_by_query)
    if failed:
        res.errors.append(f"{failed} of {len(cmds)} cold searches failed")


WARM_FIGURES = ("warm_p50_ms", "warm_p95_ms", "warm_p99_ms", "warm_cpu_p50_ms", "warm_cpu_p99_ms")


def warm_round(engine: str, site: Path, index: Path, env: dict[str, str], qfile: Path, res: EngineResult,
               into: list[dict[str, float]]) -> None:
    """p50/p95/p99 of API ``search()`` over all queries (wall, and CPU), in one child process: appended to `into`."""
    run = run_measured([sys.executable, str(Path(__file__).resolve()), "_warm", engine, str(site), str(index),
                        str(qfile)], env)
    if run.rc != 0:
        res.errors.append(f"warm search exited {run.rc}: {last_line(run.stderr)}")
        return
    data = run.json()
    lat = [x * 1000 for x in data["latencies"]]
    cpu = [x * 1000 for x in data["cpu"]]
    into.append(dict(zip(WARM_FIGURES, [percentile(lat, p) for p in (50, 95, 99)] +
                         [percentile(cpu, 50), percentile(cpu, 99)])))
    res.zero_hit_queries = data["zero_hits"]
    if data["n_errors"]:
        res.errors.append(f"{data['n_errors']} queries raised, e.g. {data['errors'][:3]}")


def warm_medians(res: EngineResult, rounds: list[dict[str, float]]) -> None:
    """Each warm figure as the median of the rounds' (the engines' rounds alternate: kb, FTS5, tantivy, FTS5
    simple, then again), so that this VM's drift (up to a third over minutes) falls on every engine alike."""
    res.warm_rounds = rounds
    if not rounds:
        return
    for name in WARM_FIGURES:
        setattr(res, name, statistics.median(r[name] for r in rounds))


# --------------------------------------------------------------------------
# Baselines and machine description.
# --------------------------------------------------------------------------


def import_baselines(env: dict[str, str], repeats: int) -> dict[str, float]:
    """Median start-up cost (wall, and CPU as `cpu:NAME`) of the imports each engine cannot avoid."""
    snippets = {
        "kb": "import whoosh.index, whoosh.qparser, whoosh.highlight",
        "whoosh": "import whoosh.index",
        "fts5": "import sqlite3",
        "python": "pass",
    }
    out: dict[str, float] = {}
    for k, s in snippets.items():
        out[k], out[f"cpu:{k}"], _failed = median_wall_cpu([[sys.executable, "-c", s]] * repeats, env)
    return out


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, OS, Python and SQLite versions, date."""
    cpu, ram = platform.processor() or platform.machine(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        ram = f"{kib / 1024 / 1024:.1f} GiB RAM"
    except (OSError, IndexError, ValueError):
        pass
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores" + (f", {ram}" if ram else ""),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"Python {platform.python_version()} ({sys.executable})",
        "sqlite": f"SQLite {sqlite3.sqlite_version}",
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def kb_revision(env: dict[str, str]) -> str:
    """Where kb was imported from, and its git commit if it is a checkout."""
    probe = run_measured([sys.executable, "-c", "import kb, os; print(os.path.dirname(list(kb.__path__)[0]))"], env)
    if probe.rc != 0:
        return "kb not importable"
    root = probe.stdout.strip()
    rev = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "kb"], capture_output=True, text=True)
    if rev.returncode != 0:
        return f"kb from {root}"
    return f"kb from {root} at {rev.stdout.strip()}" + (" (uncommitted changes)" if dirty.stdout.strip() else "")


# --------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------


def fmt(value: float | None, unit: str, digits: int = 2) -> str:
    """A figure with its unit, or an em dash when it was not measured."""
    if value is None:
        return "—"
    if unit == "sections/s":
        return f"{value:,.0f} {unit}"
    return f"{value:,.{digits}f} {unit}".rstrip()


def ratio(kb: float | None, ref: float | None) -> str:
    """kb / FTS5, written so that > 1 always means kb is slower or bigger."""
    if kb is None or ref is None or ref == 0:
        return "—"
    return f"{kb / ref:,.1f}×"


#: (label, attribute, unit, digits); ratios are kb/fts5 except throughput (fts5/kb).
ROWS: tuple[tuple[str, str, str, int], ...] = (
    ("Full reindex (CLI, wall)", "full_s", "s", 2),
    ("Full reindex throughput (kb's section count ÷ wall)", "sections_per_s", "sections/s", 0),
    ("Peak RSS of full reindex (largest single process)", "full_rss_mb", "MB", 0),
    ("Peak memory of full reindex (process tree, PSS sampled 20/s)", "full_tree_mb", "MB", 0),
    ("No-op reindex", "noop_s", "s", 2),
    ("Reindex after editing 1 page", "edit1_s", "s", 2),
    ("Reindex after adding 10 pages", "add10_s", "s", 2),
    ("Reindex after deleting 10 pages", "del10_s", "s", 2),
    ("Cold `search` (fresh process, median)", "cold_search_s", "s", 3),
    ("Cold `search` CPU time (user + system, median; load-independent)", "cold_search_cpu_s", "s", 3),
    ("Warm API `search()` p50", "warm_p50_ms", "ms", 1),
    ("Warm API `search()` p95", "warm_p95_ms", "ms", 1),
    ("Warm API `search()` p99", "warm_p99_ms", "ms", 1),
    ("Warm API `search()` CPU time p50 (load-independent)", "warm_cpu_p50_ms", "ms", 1),
    ("Warm API `search()` CPU time p99 (load-independent)", "warm_cpu_p99_ms", "ms", 1),
    ("Queries with no hits (of the query set)", "zero_hit_queries", "", 0),
    ("Index size on disk", "index_mb", "MB", 1),
)


def size_table(sr: SizeResult) -> list[str]:
    """The Markdown table for one site size: kb, then each reference with its ratio."""
    kb, ref, tv, simple = (sr.engines[e] for e in ENGINES)
    lines = [
        f"### {sr.pages:,} pages ({sr.markdown_mb:.1f} MB Markdown, {fmt(kb.sections or ref.sections, '', 0)} "
        f"sections{'' if kb.sections else ' as split by FTS5 ref'}; simple splitter: {fmt(simple.sections, '', 0)})",
        "",
        "| Measure | kb | FTS5 ref (kb's sections) | kb / FTS5 | tantivy ref (kb's sections) | kb / tantivy "
        "| FTS5 ref (simple splitter) | kb / simple |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    common = kb.sections or ref.sections  # engines count units differently; same pages, so use one count
    refs = (ref, tv, simple)
    for label, attr, unit, digits in ROWS:
        a = getattr(kb, attr)
        others = [getattr(r, attr) for r in refs]
        if attr == "sections_per_s":
            a = common / kb.full_s if common and kb.full_s else None
            others = [common / r.full_s if common and r.full_s else None for r in refs]
            ratios = [ratio(b, a) for b in others]
        else:
            ratios = [ratio(a, b) for b in others]
        cells = " | ".join(f"{fmt(b, unit, digits)} | {r}" for b, r in zip(others, ratios))
        lines.append(f"| {label} | {fmt(a, unit, digits)} | {cells} |")
    if kb.floor_cpu_s and kb.cold_search_cpu_s:
        lines += ["", f"Cold search against the start-up floor, measured alternately (an `import whoosh.index` process "
                  f"before each query's search): kb cold search CPU {kb.cold_search_cpu_s:.3f} s / floor "
                  f"{kb.floor_cpu_s:.3f} s = {kb.cold_search_cpu_s / kb.floor_cpu_s:.2f}x."]
    if sr.rg_cold_s is not None:
        lines += ["", f"Cold-search reference without an index: `rg -i -w -F -l -e WORD... SITE` (ripgrep, any of the "
                  f"query's words, same queries) median {sr.rg_cold_s:.3f} s; kb cold search / rg = "
                  f"{ratio(kb.cold_search_s, sr.rg_cold_s)}."]
    notes = [f"- **{e} error:** {err}" for e in ENGINES for err in dict.fromkeys(sr.engines[e].errors)]
    return lines + ([""] + notes if notes else []) + [""]


def render(info: dict[str, str], kb_rev: str, base: dict[str, float], sizes: Sequence[SizeResult],
           command: str, n_queries: int, repeats: int, rounds: int) -> str:
    """The whole generated Markdown block."""
    out = [
        f"_Generated by `{command}` on {info['date']}._",
        "",
        f"- Machine: {info['cpu']}; {info['os']}",
        f"- {info['python']}; {info['sqlite']}; {kb_rev}",
        f"- Start-up baselines (median of {repeats} fresh processes): `python -c pass` {base['python']:.3f} s; "
        f"`import whoosh.index, whoosh.qparser, whoosh.highlight` {base['kb']:.3f} s; "
        f"`import whoosh.index` {base['whoosh']:.3f} s; "
        f"`import sqlite3` {base['fts5']:.3f} s. In CPU time (user + system, which the machine's load inflates far less "
        f"than wall time): `python -c pass` {base['cpu:python']:.3f} s; `import whoosh.index, whoosh.qparser, "
        f"whoosh.highlight` {base['cpu:kb']:.3f} s; `import whoosh.index` {base['cpu:whoosh']:.3f} s",
        f"- Sites are generated by `benchmarks/gensite.py` (seeded); queries: {n_queries} "
        "(1–3 words, \"phrases\", `prefix*`, one-edit typos) from the site's own text.",
        f"- Reindex and cold-search (median of {repeats} queries, each query's figure the median of its {rounds} runs) "
        "figures are fresh CLI processes (interpreter start and imports included; each cold search after one untimed "
        "run of the same command, so that its files are in the page cache as the floor's are); warm figures are the "
        f"median of {rounds} rounds (each round one process per engine, the engines taking turns); "
        "kb / FTS5 > 1 means kb is slower (or bigger); for throughput it is FTS5 ÷ kb.",
        "- FTS5 ref (kb's sections) parses pages with kb's own code and indexes them in SQLite FTS5: the gap to kb "
        "is kb's indexing/search engine. tantivy ref (kb's sections) does the same with tantivy (tantivy-py, "
        "`pip install -e '.[bench]'`), the compiled Lucene-style yardstick. Both references parse in one process; "
        "kb parses with 2 workers. FTS5 ref (simple splitter) uses a regex heading splitter: the gap to kb is "
        "everything, parsing included.",
        "- Memory: every command is started by `benchmarks/measure.py`, a small fresh parent: peak RSS is that of "
        "the largest single process of the command's tree (`getrusage(RUSAGE_CHILDREN)`), peak memory of the tree "
        "is the sum of its processes' PSS sampled every 50 ms (shared pages counted once).",
        "",
    ]
    for sr in sizes:
        out += size_table(sr)
    return "\n".join(out).rstrip() + "\n"


def write_block(path: Path, block: str) -> None:
    """Replace the generated block between the markers, keeping hand-written text."""
    wrapped = f"{MARK_START}\n{block}{MARK_END}"
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if MARK_START in text and MARK_END in text:
            head, rest = text.split(MARK_START, 1)
            text = head + wrapped + rest.split(MARK_END, 1)[1]
        else:
            text = text.rstrip("\n") + "\n\n" + wrapped + "\n"
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = ("# Performance\n\nHow fast kb indexes and searches, measured by `python benchmarks/run.py`.\n"
                "Everything between the markers below is generated; edit the text outside them.\n\n"
                f"{wrapped}\n")
    path.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------
# CLI.
# --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", help="comma-separated page counts (default 100,1000)")
    ap.add_argument("--large", action="store_true", help="also 10,000 pages")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--queries", type=int, default=200, help="queries for warm latency")
    ap.add_argument("--repeats", type=int, default=10, help="fresh processes for medians")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of the cold and warm searches (alternating engines); medians are reported")
    ap.add_argument("--fts5-splitter", help="splitter for the FTS5 reference: 'simple' or module:function "
                    "(default: kb's own when importable, so both index the same units)")
    ap.add_argument("--kb-path", help="directory to put first on the children's PYTHONPATH")
    ap.add_argument("--workdir", help="keep sites and indexes here instead of a removed temp dir")
    ap.add_argument("--write", metavar="MD_FILE", help="write the table into this file's generated block")
    ap.add_argument("--json-out", metavar="FILE", help="also save raw figures as JSON")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_warm"]:
        warm_main(*argv[1:5])
        return 0
    args = parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [100, 1000]
    if args.large and 10_000 not in sizes:
        sizes.append(10_000)
    env = child_env(args.kb_path)
    global FTS5_SPLITTER
    FTS5_SPLITTER = args.fts5_splitter
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    started = time.perf_counter()
    compile_kb(env)
    log("baselines ...")
    base = import_baselines(env, args.repeats)
    kb_rev = kb_revision(env)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="kb-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        results = []
        for n in sizes:
            shutil.rmtree(work / f"n{n}", ignore_errors=True)  # a kept workdir may hold an old run
            (work / f"n{n}").mkdir(parents=True)
            results.append(bench_size(n, args.seed, env, args.repeats, args.queries, work / f"n{n}", log,
                                      args.rounds))
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    command = "python benchmarks/run.py " + " ".join(argv)
    block = render(machine(), kb_rev, base, results, command.strip(), args.queries, args.repeats, args.rounds)
    print(block)
    log(f"total benchmark time {time.perf_counter() - started:.0f} s")
    if args.write:
        write_block(Path(args.write), block)
        log(f"wrote {args.write}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps([asdict(r) for r in results], indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
