"""Benchmark the builder against the floor of merely reading the history, and print a table.

    python bench/build.py                       # the two real histories and 15,000/60,000-commit synthetic ones
    python bench/build.py --quick               # 3,000/12,000 synthetic commits, no real histories
    python bench/build.py --git-history         # also time git-history on the legacy bundle (about 25 minutes)

Histories are cloned or generated once under --work (default bench/work) and reused.
Every build runs as its own process (`python build_database.py`), so its
time includes process start and its peak memory is its own.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pge_outages.synthetic import generate_history  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
BUNDLES = {"legacy-2019-10": "pge-outages.json", "modern-2024-q1": "outages.json"}


def floor_seconds(repo: Path, file: str) -> tuple[float, int]:
    """Read every version through one `git cat-file --batch` and json.loads it: nothing else."""
    started = time.perf_counter()
    log = subprocess.run(
        ["git", "log", "--reverse", "--first-parent", "--format=%H", "--", file],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout.split()
    cat = subprocess.Popen(["git", "cat-file", "--batch"], cwd=repo, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    rows = 0
    for sha in log:
        cat.stdin.write(f"{sha}:{file}\n".encode())
        cat.stdin.flush()
        header = cat.stdout.readline().split()
        if header[-1] == b"missing":
            continue
        data = cat.stdout.read(int(header[2]))
        cat.stdout.read(1)
        try:
            version = json.loads(data)
        except ValueError:
            continue
        rows += len(version) if isinstance(version, list) else 0
    cat.stdin.close()
    cat.wait()
    return time.perf_counter() - started, rows


def run_build(repo: Path, db: Path, *extra: str) -> tuple[float, float, str, float]:
    """(seconds, peak MB, summary line, CPU seconds) of one `build_database.py` process.

    CPU seconds count the process and the git processes it ran: on a shared
    machine they vary less than the wall clock.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "build_database.py"), str(repo), str(db), "--silent", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    out, err = process.stdout.read().decode(), process.stderr.read().decode()
    if status != 0:
        raise click.ClickException(f"build of {repo} failed: {err}")
    return seconds, usage.ru_maxrss / 1024, out.strip(), usage.ru_utime + usage.ru_stime


def append_commit(repo: Path, file: str) -> None:
    """Commit a next version in which one outage's customer count changed."""
    path = repo / file
    data = json.loads(path.read_text())
    record = data[0]
    key = "estCustAffected" if "estCustAffected" in record else "EST_CUSTOMERS"
    value = int(record.get(key) or 0) + 1
    record[key] = str(value) if isinstance(record.get(key), str) else value
    path.write_text(json.dumps(data, indent=2) + "\n")
    env = {**os.environ, "GIT_COMMITTER_DATE": f"{int(time.time())} +0000"}
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com",
                    "commit", "-q", "-m", "benchmark: one more scrape", "--", file],
                   cwd=repo, check=True, env=env)


def database_bytes(db: Path) -> int:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return db.stat().st_size


def time_query(conn: sqlite3.Connection, sql: str, params=(), repeat: int = 5) -> float:
    """Median milliseconds to run a query and fetch every row, on a warm connection."""
    conn.execute(sql, params).fetchall()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        conn.execute(sql, params).fetchall()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def query_times(db: Path) -> list[tuple[str, float]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    last = conn.execute("select max(id) from snapshots").fetchone()[0]
    outage = conn.execute("select id from outages order by snapshot_count desc limit 1").fetchone()[0]
    seed = "select sum(estCustAffected) from outage_snapshots where snapshot = ?"
    results = [
        (f"seed query, snapshot {sid:,}", time_query(conn, seed, (sid,)))
        for sid in (1, last // 2, last)
    ]
    results += [
        ("most_recent_snapshot", time_query(conn, "select * from most_recent_snapshot")),
        ("customers per snapshot, whole history",
         time_query(conn, "select id, [when], customers_affected, outage_count from snapshots")),
        (f"one outage's history ({outage})",
         time_query(conn, "select * from outage_snapshots where outage = ?", (outage,))),
        ("outages_expanded, first page", time_query(conn, "select * from outages_expanded limit 101")),
    ]
    conn.close()
    return results


def prepare(work: Path, quick: bool, shared: Path) -> list[tuple[str, Path, str]]:
    histories = []
    if not quick:
        for name, file in BUNDLES.items():
            bundle = shared / f"{name}.bundle"
            if not bundle.exists():
                click.echo(f"skipping {name}: {bundle} is absent", err=True)
                continue
            repo = work / name
            if not repo.exists():
                subprocess.run(["git", "clone", "-q", "-b", "main", str(bundle), str(repo)], check=True)
            histories.append((name, repo, file))
    for commits in ((3_000, 12_000) if quick else (15_000, 60_000)):
        name = f"synthetic-{commits // 1000}k"
        repo = work / name
        if not repo.exists():
            click.echo(f"generating {name}...", err=True)
            # one storm per 5,000 scrapes, so that both lengths have the same mix
            generate_history(repo, commits=commits, era="legacy", outages=150, storms=commits // 5000, seed=60)
        histories.append((name, repo, "pge-outages.json"))
    return histories


def git_history_ratio(work: Path, repo: Path, floor: float) -> tuple[float, float]:
    """Time git-history (in an environment of its own) on the legacy bundle."""
    venv = work / "venv-git-history"
    if not venv.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "git-history"], check=True)
    db = work / "git-history.db"
    db.unlink(missing_ok=True)
    started = time.perf_counter()
    subprocess.run([str(venv / "bin" / "git-history"), "file", str(db), "pge-outages.json",
                    "--repo", str(repo), "--id", "outageNumber", "--ignore-duplicate-ids", "--silent"], check=True)
    seconds = time.perf_counter() - started
    return seconds, seconds / floor


@click.command()
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=ROOT / "bench" / "work",
              show_default=True, help="Where histories and databases are kept between runs.")
@click.option("--shared", type=click.Path(file_okay=False, path_type=Path), default=SHARED,
              show_default=True, help="Folder holding the real history bundles.")
@click.option("--quick", is_flag=True, help="Small synthetic histories only, for a quick look.")
@click.option("--git-history", "with_git_history", is_flag=True,
              help="Also time git-history on the legacy bundle (slow: about 25 minutes).")
@click.option("--repeat", type=click.IntRange(1), default=1, show_default=True,
              help="Time each floor and full build this many times and keep the fastest.")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the figures to this JSON file.")
def main(work, shared, quick, with_git_history, repeat, json_out):
    """Benchmark full builds, appends and queries, each against the floor of reading the history.

    Example:

        python bench/build.py --quick
    """
    work.mkdir(parents=True, exist_ok=True)
    histories = prepare(work, quick, shared)
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    figures = {"machine": f"{os.cpu_count()} cores, {memory:.0f} GiB, Python {sys.version.split()[0]}, "
                          f"SQLite {sqlite3.sqlite_version}",
               "builds": []}
    click.echo(f"machine: {figures['machine']}")
    header = ("| history | commits | rows | floor s | build s | ratio | s per 1k commits | CPU s per 1k commits "
              "| peak MB | bytes/row | append 1 commit s | rerun s |")
    lines = [header, "|" + "---|" * 12]
    per_commit = {}
    for name, repo, file in histories:
        click.echo(f"{name}: floor...", err=True)
        floor, rows = min(floor_seconds(repo, file) for _ in range(repeat))
        db = work / f"{name}.db"
        builds = []
        for _ in range(repeat):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            click.echo(f"{name}: build...", err=True)
            builds.append(run_build(repo, db))
        seconds, peak, summary, cpu = min(builds)
        commits = int(summary.split()[0].replace(",", ""))
        size = database_bytes(db)
        append_commit(repo, file)
        try:
            append = run_build(repo, db)[0]
            rerun = run_build(repo, db)[0]
        finally:
            subprocess.run(["git", "reset", "-q", "--hard", "HEAD~1"], cwd=repo, check=True)
        per_commit[name] = (seconds / commits * 1000, cpu / commits * 1000)
        entry = dict(history=name, commits=commits, rows=rows, floor=floor, build=seconds, ratio=seconds / floor,
                     seconds_per_1k_commits=per_commit[name][0], cpu_seconds_per_1k_commits=per_commit[name][1],
                     peak_mb=peak, bytes_per_row=size / rows, append=append, rerun=rerun)
        figures["builds"].append(entry)
        lines.append(
            f"| {name} | {commits:,} | {rows:,} | {floor:.1f} | {seconds:.1f} | {seconds / floor:.2f}x | "
            f"{per_commit[name][0]:.2f} | {per_commit[name][1]:.2f} | {peak:.0f} | {size / rows:.1f} | "
            f"{append:.2f} | {rerun:.2f} |"
        )
    small, large = [n for n in per_commit if n.startswith("synthetic")]
    growth = per_commit[large][0] / per_commit[small][0]
    cpu_growth = per_commit[large][1] / per_commit[small][1]
    figures["growth"] = dict(wall=growth, cpu=cpu_growth)
    click.echo("\n".join(lines))
    click.echo(f"\ngrowth: {large} costs {growth:.2f}x per commit what {small} does "
               f"({cpu_growth:.2f}x in CPU time)")

    if with_git_history and "legacy-2019-10" in per_commit:
        legacy = next(b for b in figures["builds"] if b["history"] == "legacy-2019-10")
        seconds, ratio = git_history_ratio(work, work / "legacy-2019-10", legacy["floor"])
        figures["git_history"] = dict(seconds=seconds, ratio=ratio)
        click.echo(f"git-history on legacy-2019-10: {seconds:.0f} s, {ratio:.1f}x the floor "
                   f"(this builder: {legacy['ratio']:.2f}x)")

    click.echo(f"\nqueries on {large} (median of 5, warm):")
    click.echo("| query | ms |\n|---|---|")
    figures["queries"] = []
    for label, ms in query_times(work / f"{large}.db"):
        figures["queries"].append(dict(query=label, ms=ms))
        click.echo(f"| {label} | {ms:.2f} |")
    if json_out:
        json_out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
