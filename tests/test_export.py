"""`pge-outages export eaglei`: customers out per county every 15 minutes, in EAGLE-I's layout,
on a small history whose answers are known: the state at each step, blind time left out."""

from __future__ import annotations

import csv
import io
import sqlite3

import pytest
from click.testing import CliRunner

from pge_outages import wire
from pge_outages.build import build_database
from pge_outages.cli import cli
from pge_outages.export import EAGLEI_COLUMNS, write_eaglei
from support.helpers import ROOT, make_repo

T0 = 1706745600  # 2024-02-01 00:00 UTC, a quarter hour
OAKLAND = (-122.2712, 37.8044)  # Alameda, 06001
FRESNO = (-119.7871, 36.7378)  # Fresno, 06019
OFFSHORE = (-123.5, 37.5)  # the Pacific: no county


def outage(number: int, customers: int, point: tuple[float, float], updated: int | None = None) -> dict:
    x, y = wire.to_web_mercator(*point)
    record = {wire.LAYER4_ID: number, "EST_CUSTOMERS": customers, wire.POINT_X: round(x, 3), wire.POINT_Y: round(y, 3)}
    if updated is not None:
        record["LAST_UPDATE"] = updated * 1000
    return record


# (time, outages): ten minutes apart, then two hours the scraper was blind to (the feed's own time
# shows outage 4 changed at 01:00, long before the next look), then one more.
SNAPSHOTS = [
    (T0, [outage(1, 10, OAKLAND), outage(2, 5, OAKLAND), outage(3, 7, FRESNO), outage(9, 3, OFFSHORE)]),
    (T0 + 600, [outage(1, 12, OAKLAND), outage(3, 7, FRESNO)]),
    (T0 + 1200, [outage(3, 8, FRESNO)]),
    (T0 + 1800, [outage(3, 8, FRESNO), outage(4, 100, OAKLAND)]),
    (T0 + 9000, [outage(4, 90, OAKLAND, updated=T0 + 3600)]),
    (T0 + 9600, [outage(4, 80, OAKLAND), outage(5, 0, FRESNO)]),
]


def utc(seconds: int) -> str:
    return f"2024-02-01 {seconds // 3600:02d}:{seconds % 3600 // 60:02d}:00"


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    base = tmp_path_factory.mktemp("export")
    repo = make_repo(base / "repo", [records for _, records in SNAPSHOTS], times=[when for when, _ in SNAPSHOTS])
    path = base / "outages.db"
    build_database(repo, path)
    conn = sqlite3.connect(path)
    assert conn.execute("select gap_class from snapshots where [when] = ?", (T0 + 9000,)).fetchone() == ("blind",)
    conn.close()
    return path


def export(db, start: int, end: int) -> list[list[str]]:
    out = io.StringIO()
    conn = sqlite3.connect(db)
    try:
        write_eaglei(conn, out, start, end)
    finally:
        conn.close()
    return list(csv.reader(io.StringIO(out.getvalue())))


def test_each_step_is_the_state_at_that_moment_and_blind_time_is_left_out(db):
    rows = export(db, T0, T0 + 4 * 3600)
    assert rows[0] == list(EAGLEI_COLUMNS)
    assert rows[1:] == [
        # 00:00, the first snapshot: the offshore outage is in no county.
        ["06001", "Alameda", "California", "15", utc(0)],
        ["06019", "Fresno", "California", "7", utc(0)],
        # 00:15: the snapshot of 00:10.
        ["06001", "Alameda", "California", "12", utc(900)],
        ["06019", "Fresno", "California", "7", utc(900)],
        # 00:30: the snapshot then.
        ["06001", "Alameda", "California", "100", utc(1800)],
        ["06019", "Fresno", "California", "8", utc(1800)],
        # 00:45 to 02:15: blind (the 00:30 snapshot stands for a scrape interval only, as in
        # customer-minutes), left out. 02:30: the snapshot then.
        ["06001", "Alameda", "California", "90", utc(9000)],
        # 02:45: after the last snapshot (02:40), which stands for no time yet: left out.
    ]


def test_a_county_with_no_customers_out_has_no_row_and_steps_start_on_a_quarter_hour(db):
    rows = export(db, T0 + 1, T0 + 1800)
    # From 00:00:01 the first step is 00:15, and `to` is not included.
    assert [row[4] for row in rows[1:]] == [utc(900), utc(900)]


def test_the_command_writes_the_csv_and_says_how_many_rows(db, tmp_path):
    out = tmp_path / "eaglei.csv"
    result = CliRunner().invoke(cli, ["export", "eaglei", str(db), str(out),
                                      "--from", "2024-02-01T00:00Z", "--to", "2024-02-01T00:30Z"])
    assert result.exit_code == 0, result.output
    assert "4 rows of customers out per county written to" in result.output
    assert out.read_text().splitlines()[0] == ",".join(EAGLEI_COLUMNS)
    whole = CliRunner().invoke(cli, ["export", "eaglei", str(db), "-"])
    assert whole.exit_code == 0
    assert whole.output.count("\n06001,Alameda,") == 4


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "yesterday"], "'yesterday' is not a time such as 2025-12-25T15:00-08:00"),
    (["--from", "2024-02-02", "--to", "2024-02-01"], "is not after --from"),
])
def test_bad_times_get_a_clear_error(db, tmp_path, args, message):
    result = CliRunner().invoke(cli, ["export", "eaglei", str(db), str(tmp_path / "x.csv"), *args])
    assert result.exit_code != 0
    assert message in result.output


def test_a_database_from_before_counties_is_refused_before_anything_is_written(tmp_path):
    old = tmp_path / "old.db"
    old.write_bytes((ROOT / "tests" / "fixtures" / "schemas" / "schema-4.db").read_bytes())
    out = tmp_path / "eaglei.csv"
    result = CliRunner().invoke(cli, ["export", "eaglei", str(old), str(out)])
    assert result.exit_code == 1
    assert "was built before counties were recorded: run pge-outages build on it to upgrade it" in result.output
    assert not out.exists()
