"""What the scraper's trailers and liveness marks cost the builder, and how many marks a quiet day makes.

    python bench/liveness.py                    # the modern-2024-q1 bundle and a 15,000-commit synthetic history
    python bench/liveness.py --quick            # a 3,000-commit synthetic history only

For each history it writes a copy as this scraper would have: every commit
ends with Fetched-At, Feed-Updated, Watched-Since and Scrape-Interval trailers,
and wherever a 30-minute window of the clock holds no commit (the feed was
quiet) an empty liveness commit is added at the window's start, the rule the
scraper follows. Then it builds both (each its own process, best of --repeat)
and prints the two times beside the floor of reading the history. The
control is the same copy with plain messages and no marks, written and packed
the same way, since a repack alone moves build times by more than the marks do.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from build import SHARED, floor_seconds, run_build  # noqa: E402

from pge_outages.synthetic import generate_history  # noqa: E402
from scrapers.commits import Stamp  # noqa: E402

HEARTBEAT = 1800
INTERVAL = 600


def versions(repo: Path, file: str) -> list[tuple[int, str]]:
    """(commit time, blob of file) for each first-parent commit that changed it, oldest first."""
    out = subprocess.run(
        ["git", "log", "--reverse", "--first-parent", "--format=%ct", "--raw", "--no-abbrev", "--", file],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout
    result: list[tuple[int, str]] = []
    when = 0
    for line in out.splitlines():
        if line.startswith(":"):
            blob = line.split()[3]
            if blob != "0" * 40:
                result.append((when, blob))
        elif line.strip():
            when = int(line)
    return result


def write_scraped_copy(source: Path, target: Path, file: str, scraped: bool = True) -> tuple[int, int, float]:
    """A copy of source's history of file as this scraper writes it; (commits, liveness marks, days).

    With scraped=False the same copy, packed the same way, with plain messages and no marks: the control.
    """
    subprocess.run(["git", "init", "-q", "-b", "main", str(target)], check=True)
    history = versions(source, file)
    stream: list[bytes] = []
    marks = 0
    previous: int | None = None

    def commit(when: int, message: str, blob: str | None) -> None:
        data = message.encode()
        stream.append(b"commit refs/heads/main\n")
        stream.append(f"committer bot <bot@example.com> {when} +0000\n".encode())
        stream.append(f"data {len(data)}\n".encode() + data + b"\n")
        if blob is not None:
            stream.append(f"M 100644 {blob} {file}\n".encode())

    start = history[0][0]
    for when, blob in history:
        if previous is not None:
            # Quiet windows between two changes each get their mark at the window's start.
            window = (previous // HEARTBEAT + 1) * HEARTBEAT
            while scraped and window < when:
                trailers = "\n".join(Stamp(window + 3, None, start, INTERVAL).trailers())
                commit(window + 3, f"No change; 0 outages, 0 customers affected\n\n{trailers}\n", None)
                marks += 1
                window += HEARTBEAT
        trailers = "\n".join(Stamp(when, "2026-02-19T19:20:00Z", start, INTERVAL).trailers()) if scraped else ""
        commit(when, f"1 outage added, 0 removed, 0 changed; 1 outage, 1 customer affected\n\n{trailers}\n", blob)
        previous = when
    # The blobs come from the source repository's objects.
    alternates = target / ".git" / "objects" / "info" / "alternates"
    alternates.write_text(str((source / ".git" / "objects").resolve()) + "\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=target, input=b"".join(stream), check=True)
    subprocess.run(["git", "repack", "-a", "-d", "-q"], cwd=target, check=True)
    alternates.unlink()
    days = (history[-1][0] - history[0][0]) / 86400
    return len(history), marks, days


@click.command()
@click.option("--work", type=click.Path(path_type=Path), default=ROOT / "bench" / "work", show_default=True,
              help="Where histories and databases are kept between runs.")
@click.option("--shared", type=click.Path(path_type=Path), default=SHARED, show_default=True,
              help="The folder of the real histories.")
@click.option("--quick", is_flag=True, help="A 3,000-commit synthetic history only.")
@click.option("--repeat", type=click.IntRange(min=1), default=2, show_default=True,
              help="Builds of each history; the fastest counts.")
def main(work, shared, quick, repeat):
    """Time full builds of a history with and without the scraper's trailers and liveness marks.

    Example: python bench/liveness.py --quick
    """
    work.mkdir(parents=True, exist_ok=True)
    histories: list[tuple[str, Path, str]] = []
    commits = 3_000 if quick else 15_000
    synthetic = work / f"liveness-synthetic-{commits}"
    if not synthetic.exists():
        generate_history(synthetic, commits=commits, seed=1, era="arcgis")
    histories.append((f"synthetic-{commits // 1000}k", synthetic, "outages.json"))
    bundle = shared / "modern-2024-q1.bundle"
    if not quick and bundle.exists():
        clone = work / "liveness-modern-2024-q1"
        if not clone.exists():
            subprocess.run(["git", "clone", "-q", "-b", "main", str(bundle), str(clone)], check=True)
        histories.append(("modern-2024-q1", clone, "outages.json"))
    click.echo("| history | commits | liveness marks | marks per day | floor s | build s | with marks s | "
               "ratio | ratio with marks | CPU s | CPU s with marks |")
    click.echo("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, repo, file in histories:
        control, scraped = work / f"{repo.name}-control", work / f"{repo.name}-scraped"
        for target in (control, scraped):
            if target.exists():
                subprocess.run(["rm", "-rf", str(target)], check=True)
        write_scraped_copy(repo, control, file, scraped=False)
        count, marks, days = write_scraped_copy(repo, scraped, file)
        floor = min(floor_seconds(control, file)[0] for _ in range(repeat))
        plain, plain_cpu = best(control, work / f"{name}-plain.db", repeat)
        marked, marked_cpu = best(scraped, work / f"{name}-marked.db", repeat)
        click.echo(
            f"| {name} | {count:,} | {marks:,} | {marks / max(days, 1e-9):.1f} | {floor:.2f} | {plain:.2f} | "
            f"{marked:.2f} | {plain / floor:.2f}x | {marked / floor:.2f}x | {plain_cpu:.2f} | {marked_cpu:.2f} |"
        )


def best(repo: Path, db: Path, repeat: int) -> tuple[float, float]:
    """The fastest of repeat full builds: (wall seconds, CPU seconds), builds alternating with nothing else."""
    runs = [run_build(repo, db, "--rebuild") for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[3] for r in runs)


if __name__ == "__main__":
    main()
