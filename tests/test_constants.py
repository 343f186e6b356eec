"""One source per constant: the numbers views.sql and metadata.yml write out agree with
the code's BUCKET, GAP_SECONDS, WATCHED_SECONDS, BLIND_AFTER and REUSE_BASE, and the
schema takes them from the code."""

from __future__ import annotations

import re
import sqlite3

import pytest

from pge_outages.glitches import BLIND_AFTER, GAP_CLASSES, GAP_SECONDS, WATCHED_SECONDS
from pge_outages.schema import BUCKET, INDEXES, SCHEMA, VIEWS_SQL, connect, create_schema
from pge_outages.writer import REUSE_BASE
from support.helpers import ROOT

# Each fact, its value in the code, and the ways the SQL and the docs write it.
FACTS = {
    "bucket": (BUCKET, [r"\b(?:id|snapshot|first_snapshot) / (\d+)\b(?!\.)", r"\bbuckets? of (\d+) snapshots"]),
    "gap in seconds": (GAP_SECONDS, [r"gap_seconds > (\d+)\b(?! \*)"]),
    "gap in minutes": (GAP_SECONDS // 60, [r"\b(?:more than|over) (\d+) minutes(?! before)",
                                           r"\bat most (\d+) when unknown", r"\bfor over (\d+)\s+minutes"]),
    "watched in minutes": (WATCHED_SECONDS // 60, [r"\b(\d+) minutes or less"]),
    "blind after minutes": (BLIND_AFTER // 60, [r"\bover (\d+) minutes before"]),
    "reused ids": (REUSE_BASE, [r"\bk \* (\d+)"]),
}
COPIES = {"views.sql": VIEWS_SQL.read_text(), "metadata.yml": (ROOT / "metadata.yml").read_text()}
# What each copy must mention at least once, so that a rewording cannot hide a copy from the check.
MENTIONS = {
    "views.sql": {"bucket", "gap in seconds", "gap in minutes"},
    "metadata.yml": {"bucket", "gap in seconds", "gap in minutes", "watched in minutes", "blind after minutes",
                     "reused ids"},
}


def written_numbers(text: str) -> list[tuple[str, int, str]]:
    """(fact, number, the text around it) for every place text writes one of FACTS."""
    found = []
    for fact, (_, patterns) in FACTS.items():
        for pattern in patterns:
            for match in re.finditer(pattern, text):
                found.append((fact, int(match[1]), text[max(match.start() - 30, 0):match.end() + 10]))
    return found


def disagreements(text: str) -> list[str]:
    return [f"{fact}: {number} in ...{where}..., the code says {FACTS[fact][0]}"
            for fact, number, where in written_numbers(text) if number != FACTS[fact][0]]


@pytest.mark.parametrize("name", COPIES)
def test_the_copies_agree_with_the_code(name):
    text = COPIES[name]
    assert disagreements(text) == []
    assert {fact for fact, _, _ in written_numbers(text)} >= MENTIONS[name]


@pytest.mark.parametrize(("fact", "old", "new", "number"), [
    ("bucket", "o.snapshot / 64", "o.snapshot / 32", 32),
    ("gap in seconds", "began.gap_seconds > 1800", "began.gap_seconds > 3600", 3600),
    ("gap in minutes", "over 30 minutes long", "over 60 minutes long", 60),
])
def test_a_copy_that_disagrees_is_caught(fact, old, new, number):
    text = COPIES["views.sql"]
    assert old in text
    [found] = disagreements(text.replace(old, new, 1))
    assert found.startswith(f"{fact}: {number} in")


def test_the_schema_takes_its_numbers_from_the_code():
    assert f"(id / {BUCKET}) VIRTUAL" in SCHEMA
    assert disagreements(SCHEMA) == []
    # The index of the gaps the scraper did not see names two of the code's classes.
    assert "WHERE gap_class IN ('blind', 'unknown')" in INDEXES
    assert {"blind", "unknown"} <= set(GAP_CLASSES)


def test_a_built_database_divides_by_the_same_bucket(tmp_path):
    conn = connect(tmp_path / "outages.db")
    create_schema(conn)
    conn.execute("insert into snapshots (id, hash, [when], title, outage_count, customers_affected) "
                 "values (?, 'a', 0, 't', 0, 0)", (5 * BUCKET + 3,))
    assert conn.execute("select bucket from snapshots").fetchone() == (5,)
    conn.close()
    index = sqlite3.connect(tmp_path / "outages.db").execute(
        "select sql from sqlite_master where name = 'snapshots_not_seen'").fetchone()[0]
    assert index.endswith("WHERE gap_class IN ('blind', 'unknown')")
