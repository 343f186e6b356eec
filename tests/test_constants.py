"""One source per constant: views.sql and metadata.yml never write BUCKET, GAP_SECONDS,
WATCHED_SECONDS, BLIND_AFTER or REUSE_BASE by hand. cog writes them in from the code
(`make cog`), and the schema takes them from the code. The README and docs/*.md are
cogged too, and where their prose states one of these numbers it is the code's."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys

import pytest

from pge_outages.glitches import BLIND_AFTER, GAP_CLASSES, GAP_SECONDS, WATCHED_SECONDS
from pge_outages.schema import BUCKET, INDEXES, SCHEMA, VIEWS_SQL, connect, create_schema
from pge_outages.writer import REUSE_BASE
from support.helpers import ROOT

# Each fact, its value in the code, and the ways the SQL and the docs write it.
FACTS = {
    "bucket": (BUCKET, [r"\b(?:id|snapshot|first_snapshot) / (\d+)\b(?!\.)", r"\bbuckets? of (\d+) snapshots"]),
    "gap in seconds": (GAP_SECONDS, [r"gap_seconds > (\d+)\b(?! \*)"]),
    "gap in minutes": (GAP_SECONDS // 60, [r"\b(?:more than|over) (\d+) minutes(?! before| after)",
                                           r"\bat most (\d+) when unknown", r"\bfor over (\d+)\s+minutes"]),
    "watched in minutes": (WATCHED_SECONDS // 60, [r"\b(\d+) minutes or less"]),
    "blind after minutes": (BLIND_AFTER // 60, [r"\bover (\d+) minutes (?:before|after)"]),
    "reused ids": (REUSE_BASE, [r"\bk \* (\d+)"]),
}
FILES = {"views.sql": VIEWS_SQL.read_text(), "metadata.yml": (ROOT / "metadata.yml").read_text()}
# The prose that explains these numbers: the README and the docs it links to.
DOCS = ["README.md", *sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "docs").glob("*.md"))]
# What cog writes into each file at least once, so that a rewording cannot hide a fact from the check.
MENTIONS = {
    "views.sql": {"bucket", "gap in seconds"},
    "metadata.yml": {"bucket", "gap in seconds", "gap in minutes", "watched in minutes", "blind after minutes",
                     "reused ids"},
}
# A cog block: its generator, then what it wrote, up to [[[end]]].
_BLOCK = re.compile(r"^[^\n]*\[\[\[cog\b.*?\]\]\]\n(.*?)^[^\n]*\[\[\[end\]\]\]", re.M | re.S)


def written_numbers(text: str) -> list[tuple[str, int, str]]:
    """(fact, number, the text around it) for every place text writes one of FACTS."""
    found = []
    for fact, (_, patterns) in FACTS.items():
        for pattern in patterns:
            for match in re.finditer(pattern, text):
                found.append((fact, int(match[1]), text[max(match.start() - 30, 0):match.end() + 10]))
    return found


def by_hand(text: str) -> str:
    """The text without its cog blocks: what someone typed."""
    return _BLOCK.sub("", text)


def generated(text: str) -> str:
    """What cog wrote into the text."""
    return "".join(match[1] for match in _BLOCK.finditer(text))


def cog_check(path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cogapp", "--check", str(path)], cwd=ROOT,
                          capture_output=True, text=True)


@pytest.mark.parametrize("name", FILES)
def test_cog_wrote_the_numbers_and_they_are_current(name):
    result = cog_check(ROOT / name)
    assert result.returncode == 0, f"{name} differs from the code: run .venv/bin/cog -r {name}\n{result.stdout}"
    assert {fact for fact, _, _ in written_numbers(generated(FILES[name]))} >= MENTIONS[name]
    assert all(number == FACTS[fact][0] for fact, number, _ in written_numbers(generated(FILES[name])))


@pytest.mark.parametrize("name", FILES)
def test_no_number_is_written_by_hand(name):
    assert written_numbers(by_hand(FILES[name])) == []


def test_the_docs_are_cogged():
    assert {"docs/design.md", "docs/formats.md", "docs/performance.md", "docs/cli.md"} <= set(DOCS)
    makefile = (ROOT / "Makefile").read_text()
    cog_line = next(line for line in makefile.splitlines() if "/cog -r " in line)
    assert "README.md" in cog_line and "docs/*.md" in cog_line


@pytest.mark.parametrize("name", DOCS)
def test_the_docs_are_current_and_state_the_code_s_numbers(name):
    result = cog_check(ROOT / name)
    assert result.returncode == 0, f"{name} differs from the code: run make cog\n{result.stdout}"
    # Prose may state a threshold to explain it, but only the code's value.
    text = (ROOT / name).read_text()
    assert [(fact, number) for fact, number, _ in written_numbers(text) if number != FACTS[fact][0]] == []


def test_a_number_typed_in_is_caught_where_it_is_typed(tmp_path):
    text = FILES["views.sql"]
    # Outside a cog block: found by hand.
    typed = text.replace("-- The views of the database", "-- Runs are cut into buckets of 64 snapshots.\n"
                         "-- The views of the database", 1)
    assert [fact for fact, _, _ in written_numbers(by_hand(typed))] == ["bucket"]
    # Inside one, edited by hand: cog tells.
    edited = tmp_path / "views.sql"
    assert "r.bucket = o.snapshot / 64" in text
    edited.write_text(text.replace("r.bucket = o.snapshot / 64", "r.bucket = o.snapshot / 32", 1))
    assert cog_check(edited).returncode != 0
    shutil.copy(ROOT / "views.sql", edited)
    assert cog_check(edited).returncode == 0


def test_the_schema_takes_its_numbers_from_the_code():
    assert f"(id / {BUCKET}) VIRTUAL" in SCHEMA
    assert all(number == FACTS[fact][0] for fact, number, _ in written_numbers(SCHEMA))
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
