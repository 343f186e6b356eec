"""Figures computed straight from the git blobs with the standard json module,
independently of the builder's code, to check the database against."""

import functools
import json
import subprocess
from pathlib import Path


def _customers(record):
    value = record.get("estCustAffected", record.get("EST_CUSTOMERS"))
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _id(record):
    return int(record.get("outageNumber", record.get("F_OUTAGE_ID")))


@functools.lru_cache(maxsize=4)
def history_figures(repo: Path, file: str) -> dict:
    log = subprocess.run(
        ["git", "log", "--reverse", "--format=%H %ct", "--", file],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout.split("\n")
    commits = [line.split() for line in log if line]
    cat = subprocess.Popen(["git", "cat-file", "--batch"], cwd=repo,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    snapshots = []  # (hash, when, outage count, customers)
    first_seen, last_seen, rows = {}, {}, 0
    for sha, when in commits:
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
        if not isinstance(version, list):
            continue
        outages = {}
        for record in version:
            outages.setdefault(_id(record), _customers(record))
        index = len(snapshots) + 1
        for outage in outages:
            first_seen.setdefault(outage, index)
            last_seen[outage] = index
        rows += len(outages)
        snapshots.append((sha, int(when), len(outages), sum(outages.values())))
    cat.stdin.close()
    cat.wait()
    largest = max(snapshots, key=lambda s: s[3])
    return {
        "snapshots": snapshots,
        "distinct_outages": len(first_seen),
        "rows": rows,
        "first_seen": first_seen,
        "last_seen": last_seen,
        "last": snapshots[-1],
        "largest": largest,
    }
