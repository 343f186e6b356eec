"""The scraper against a real HTTP server on 127.0.0.1: paging, file format, retries, and every way the feed fails."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
import time
from itertools import pairwise

import pytest
import requests

from scrapers import pge
from scrapers.base import (
    FeedCountMismatch,
    FetchPolicy,
    fetch_records,
    http_get_json,
    render_records,
    scrape_to_file,
)
from support.scraper_server import (
    FAST,
    FeedServer,
    Reply,
    arcgis_features,
    commit_count,
    fixture_bytes,
    fixture_json,
    git,
    make_repo,
    refusing_port,
    run_scraper,
    serve_feed,
    silent_server,
)


def storm(count: int) -> list[dict]:
    """count distinct features made from the recorded ones, as a storm's worth of outages."""
    recorded = arcgis_features()
    features = []
    for number in range(count):
        feature = copy.deepcopy(recorded[number % len(recorded)])
        feature["attributes"]["F_OUTAGE_ID"] = 3_000_000 - number
        feature["attributes"]["OBJECTID"] = number + 1
        features.append(feature)
    return features


def _get_json():
    session = requests.Session()
    return lambda url, params: http_get_json(session, url, params, timeout=5)


# Paging --------------------------------------------------------------------


@pytest.mark.parametrize("max_record_count", [1, 2, 4, 5, 6, 1000])
def test_pages_through_capped_server(tmp_path, max_record_count):
    output = tmp_path / "outages.json"
    with serve_feed(FeedServer(max_record_count=max_record_count)) as feed:
        result = run_scraper("--output", str(output), "--url", feed.url)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{output}: 6 outages, 60 customers affected; written\n"
    assert output.read_bytes() == fixture_bytes("arcgis-expected.json")
    pages = feed.page_requests
    assert len(pages) == math.ceil(6 / max_record_count)
    assert [p["resultOffset"] for p in pages] == [str(n * max_record_count) for n in range(len(pages))]
    for params in pages:
        assert params["where"] == "1=1"
        assert params["outFields"] == "*"
        assert params["f"] == "json"
        assert params["resultRecordCount"] == "1000"
    assert feed.requests[0] == {"where": "1=1", "f": "json", "returnCountOnly": "true"}


def test_storm_larger_than_page_size_loses_nothing():
    features = storm(2_500)
    with serve_feed(FeedServer(features=features, max_record_count=2_000)) as feed:
        records = pge.fetch_layer(_get_json(), feed.url, 5, page_size=1_000)
    assert [p["resultOffset"] for p in feed.page_requests] == ["0", "1000", "2000"]
    assert len(records) == 2_500
    assert {r["F_OUTAGE_ID"] for r in records} == {f["attributes"]["F_OUTAGE_ID"] for f in features}


# The file format ------------------------------------------------------------


def test_arcgis_output_keeps_history_format(tmp_path):
    output = tmp_path / "outages.json"
    with serve_feed() as feed:
        result = run_scraper("--output", str(output), "--url", feed.url)
    assert result.exit_code == 0
    records = json.loads(output.read_bytes())
    assert [r["F_OUTAGE_ID"] for r in records] == [998502, 2419248, 2419530, 2419563, 2419575, 2419589]
    for record in records:
        assert "OBJECTID" not in record
        assert "blueSkyNotificationSubscription" not in record
        assert list(record)[-3:] == ["geometry_x", "geometry_y", "layers"]
        assert record["layers"] == [5]
    assert records[-1]["geometry_x"] == -13574137.294  # the server's -13574137.2941, to the millimetre
    assert output.read_bytes().endswith(b"\n  }\n]\n")


def test_legacy_feed_is_flattened_with_region_names(tmp_path):
    output = tmp_path / "pge-outages.json"
    with serve_feed(FeedServer(legacy=fixture_json("legacy-regions.json"))) as feed:
        result = run_scraper("--feed", "legacy", "--output", str(output), "--url", feed.url)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{output}: 5 outages, 182 customers affected; written\n"
    assert output.read_bytes() == fixture_bytes("legacy-expected.json")
    records = json.loads(output.read_bytes())
    assert [(r["outageNumber"], r["regionName"]) for r in records] == [
        ("98404", "Alleghany"),
        ("686677", "Santa Rosa"),
        ("697196", "Fresno"),
        ("697197", "Fresno"),
        ("697198", "Stockton"),
    ]
    assert feed.requests == [{}]


def test_url_from_environment_variable(tmp_path):
    output = tmp_path / "outages.json"
    with serve_feed() as feed:
        result = run_scraper("--output", str(output), env={"PGE_OUTAGES_URL": feed.url})
    assert result.exit_code == 0
    assert output.read_bytes() == fixture_bytes("arcgis-expected.json")


def test_unchanged_feed_leaves_file_alone(tmp_path):
    output = tmp_path / "outages.json"
    output.write_bytes(fixture_bytes("arcgis-expected.json"))
    os.utime(output, (1_000_000, 1_000_000))
    with serve_feed() as feed:
        result = run_scraper("--output", str(output), "--url", feed.url)
    assert result.exit_code == 0
    assert result.stdout == f"{output}: 6 outages, 60 customers affected; unchanged\n"
    assert output.stat().st_mtime == 1_000_000


def test_write_is_atomic_and_keeps_file_mode(tmp_path):
    output = tmp_path / "outages.json"
    output.write_bytes(b"[]\n")
    output.chmod(0o640)
    with serve_feed() as feed:
        result = run_scraper("--output", str(output), "--url", feed.url)
    assert result.exit_code == 0
    assert output.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outages.json"]


def test_new_file_gets_default_mode(tmp_path):
    output = tmp_path / "outages.json"
    umask = os.umask(0o022)
    try:
        with serve_feed() as feed:
            result = run_scraper("--output", str(output), "--url", feed.url)
    finally:
        os.umask(umask)
    assert result.exit_code == 0
    assert output.stat().st_mode & 0o777 == 0o644


def test_render_records_matches_public_history_conventions():
    assert render_records([{"F_OUTAGE_ID": 1, "CITY": None, "geometry_x": -1.5}]) == (
        b'[\n  {\n    "F_OUTAGE_ID": 1,\n    "CITY": null,\n    "geometry_x": -1.5\n  }\n]\n'
    )
    assert render_records([]) == b"[]\n"


# Retries and time bounds ------------------------------------------------------


def test_transient_error_is_retried_after_backoff(tmp_path):
    output = tmp_path / "outages.json"
    server = FeedServer()
    server.once.append(Reply(503, b"busy", "text/plain"))
    with serve_feed(server) as feed:
        result = run_scraper("--output", str(output), "--url", feed.url, "--backoff", "0.2")
    assert result.exit_code == 0, result.output
    assert output.read_bytes() == fixture_bytes("arcgis-expected.json")
    assert len(feed.requests) == 3  # the failed count query, then count and one page
    assert feed.times[1] - feed.times[0] >= 0.2


@pytest.mark.timing
def test_backoff_doubles_between_attempts(tmp_path):
    server = FeedServer(fault=Reply(502, b"bad gateway", "text/plain"))
    with serve_feed(server) as feed:
        result = run_scraper(
            "--output", str(tmp_path / "o.json"), "--url", feed.url, "--attempts", "3", "--backoff", "0.1"
        )
    assert result.exit_code == 1
    gaps = [b - a for a, b in pairwise(feed.times)]
    assert len(gaps) == 2
    assert 0.1 <= gaps[0] < gaps[1]
    assert gaps[1] >= 0.2


@pytest.mark.timing
def test_overall_deadline_bounds_a_silent_server(tmp_path):
    output = tmp_path / "outages.json"
    with silent_server() as url:
        started = time.monotonic()
        result = run_scraper(
            "--output", str(output), "--url", url,
            "--timeout", "30", "--attempts", "50", "--backoff", "0.05", "--deadline", "1",
        )
        elapsed = time.monotonic() - started
    assert result.exit_code == 1
    assert result.stderr == f"Error: no answer from {url} within 1 s; {output} not created\n"
    assert elapsed < 2.5
    assert not output.exists()


def test_count_mismatch_that_settles_is_retried():
    server = FeedServer()
    server.once.append(Reply.json({"count": 7}))
    with serve_feed(server) as feed:
        records = fetch_records(
            pge.ARCGIS, feed.url, requests.Session(), FetchPolicy(timeout=2, attempts=2, backoff=0.01)
        )
    assert len(records) == 6
    assert len(feed.page_requests) == 2


def test_count_mismatch_raises_its_own_error():
    with serve_feed(FeedServer(count_offset=-1)) as feed:
        with pytest.raises(FeedCountMismatch) as raised:
            fetch_records(pge.ARCGIS, feed.url, requests.Session(), FetchPolicy(timeout=2, attempts=1))
    assert str(raised.value) == f"{feed.url}: pages held 6 outages but the count query says 5"


# Zero outages right after a snapshot with many -------------------------------

EMPTY_LAYER = [Reply.json({"count": 0}), Reply.json({"features": []})]


@pytest.mark.timing
def test_sudden_empty_feed_is_refetched_and_second_answer_used(tmp_path):
    output = tmp_path / "outages.json"
    output.write_bytes(fixture_bytes("arcgis-expected.json"))
    server = FeedServer(features=arcgis_features()[:4])
    server.once.extend(EMPTY_LAYER)
    with serve_feed(server) as feed:
        result = run_scraper("--output", str(output), "--url", feed.url, "--recheck-delay", "0.3")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{output}: 4 outages, 58 customers affected; written; refetched after an empty answer\n"
    )
    assert len(json.loads(output.read_bytes())) == 4
    assert len(feed.requests) == 4
    assert feed.times[2] - feed.times[1] >= 0.3


def test_sudden_empty_feed_confirmed_twice_is_accepted(tmp_path):
    output = tmp_path / "outages.json"
    output.write_bytes(fixture_bytes("arcgis-expected.json"))
    with serve_feed(FeedServer(features=[])) as feed:
        result = run_scraper("--output", str(output), "--url", feed.url)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{output}: 0 outages, 0 customers affected; written; empty feed confirmed by a second fetch\n"
    )
    assert output.read_bytes() == b"[]\n"
    assert len(feed.requests) == 4


@pytest.mark.parametrize("previous", [None, b"[]\n"], ids=["no-file", "empty-file"])
def test_empty_feed_after_empty_snapshot_needs_no_recheck(tmp_path, previous):
    output = tmp_path / "outages.json"
    if previous is not None:
        output.write_bytes(previous)
    with serve_feed(FeedServer(features=[])) as feed:
        result = scrape_to_file(
            pge.ARCGIS, output, feed.url, requests.Session(), FetchPolicy(timeout=2, recheck_delay=5)
        )
    assert result.rechecked is False
    assert len(feed.requests) == 2
    assert output.read_bytes() == b"[]\n"


# Every way the feed fails: exit 1, one line on stderr, file byte-for-byte untouched --

HTML_PAGE = b"<!DOCTYPE html><html><head><title>Outage Center - Scheduled maintenance</title></head></html>"
ARCGIS_ERROR = {
    "error": {
        "code": 400,
        "message": "Unable to complete operation.",
        "details": ["Invalid or missing input parameters."],
    }
}


def _with_attributes(change):
    features = arcgis_features()
    change(features)
    return FeedServer(features=features)


def _drop_id(features):
    del features[2]["attributes"]["F_OUTAGE_ID"]


def _duplicate_id(features):
    features[4]["attributes"]["F_OUTAGE_ID"] = features[1]["attributes"]["F_OUTAGE_ID"]


def _text_id(features):
    features[0]["attributes"]["F_OUTAGE_ID"] = "n/a"


def _legacy(change):
    payload = fixture_json("legacy-regions.json")
    change(payload)
    return FeedServer(legacy=payload)


FAULTS = {
    # kind: (server, expected message with {url}, requests made)
    "http-404": (FeedServer(fault=Reply(404, b"nope", "text/plain")), "HTTP 404 Not Found from {url}", 1),
    "http-500": (
        FeedServer(fault=Reply(500, b"oops", "text/plain")),
        "HTTP 500 Internal Server Error from {url} (after 2 attempts)",
        2,
    ),
    "http-503-on-page": (
        FeedServer(page_fault=Reply(503, b"busy", "text/plain")),
        "HTTP 503 Service Unavailable from {url} (after 2 attempts)",
        4,
    ),
    "html-200": (
        FeedServer(fault=Reply(200, HTML_PAGE, "text/html; charset=utf-8")),
        "{url} returned an HTML page, not JSON (after 2 attempts)",
        2,
    ),
    "html-as-json": (
        FeedServer(fault=Reply(200, b"\n" + HTML_PAGE)),
        "{url} returned an HTML page, not JSON (after 2 attempts)",
        2,
    ),
    "invalid-json": (
        FeedServer(page_fault=Reply(200, b"upstream connect error or disconnect/reset before headers")),
        "{url} returned invalid JSON (Expecting value: line 1 column 1 (char 0)) (after 2 attempts)",
        4,
    ),
    "truncated-json": (
        FeedServer(page_fault=Reply(200, fixture_bytes("arcgis-query.json")[:3000])),
        "{url} returned truncated JSON (3,000 bytes) (after 2 attempts)",
        4,
    ),
    "cut-off-transfer": (
        FeedServer(page_fault=Reply(200, fixture_bytes("arcgis-query.json")[:3000], content_length=7111)),
        "connection to {url} broke off mid-response (after 2 attempts)",
        4,
    ),
    "arcgis-error-200": (
        FeedServer(fault=Reply.json(ARCGIS_ERROR)),
        "{url} returned ArcGIS error 400: Unable to complete operation. Invalid or missing input parameters.",
        1,
    ),
    "arcgis-error-500": (
        FeedServer(page_fault=Reply.json({"error": {"code": 500, "message": "Error performing query operation"}})),
        "{url} returned ArcGIS error 500: Error performing query operation (after 2 attempts)",
        4,
    ),
    "not-an-object": (FeedServer(fault=Reply.json([])), "{url} returned JSON that is not an object", 1),
    "no-count": (
        FeedServer(fault=Reply.json({"features": []})), "{url} returned no 'count' for returnCountOnly=true", 1,
    ),
    "no-features": (
        FeedServer(page_fault=Reply.json({"displayFieldName": "OUTAGE_DEVICE_ID", "fields": []})),
        "{url} returned no 'features' list",
        2,
    ),
    "feature-without-attributes": (
        _with_attributes(lambda f: f[3].pop("attributes")),
        "{url}: feature 4 has no 'attributes'",
        2,
    ),
    "missing-id": (_with_attributes(_drop_id), "{url}: outage 3 of 6 has no F_OUTAGE_ID", 2),
    "duplicate-ids": (_with_attributes(_duplicate_id), "{url}: duplicate F_OUTAGE_ID 2419248", 2),
    "non-numeric-id": (_with_attributes(_text_id), "{url}: F_OUTAGE_ID 'n/a' is not a number", 2),
    "count-too-high": (
        FeedServer(count_offset=1),
        "{url}: pages held 6 outages but the count query says 7 (after 2 attempts)",
        4,
    ),
    "empty-page-claims-more": (
        FeedServer(page_fault=Reply.json({"features": [], "exceededTransferLimit": True})),
        "{url} returned an empty page that says more features follow",
        2,
    ),
    "legacy-no-regions": (
        FeedServer(legacy={"outages": []}),
        "{url} returned no 'outagesRegions' list",
        1,
    ),
    "legacy-region-without-outages": (
        _legacy(lambda p: p["outagesRegions"][2].pop("outages")),
        "{url}: region 3 has no 'outages' list",
        1,
    ),
    "legacy-missing-id": (
        _legacy(lambda p: p["outagesRegions"][0]["outages"][1].pop("outageNumber")),
        "{url}: outage 2 of 5 has no outageNumber",
        1,
    ),
    "legacy-duplicate-ids": (
        _legacy(lambda p: p["outagesRegions"][3]["outages"][0].update(outageNumber="697196")),
        "{url}: duplicate outageNumber 697196",
        1,
    ),
}


@pytest.mark.parametrize("kind", list(FAULTS))
def test_feed_fault_leaves_file_untouched_and_commits_nothing(tmp_path, kind):
    server, message, requests_made = copy.deepcopy(FAULTS[kind])
    legacy = server.legacy is not None
    name = "pge-outages.json" if legacy else "outages.json"
    before = b'[\n  {"previous": "snapshot, formatted by hand"}\n]\n'
    repo = make_repo(tmp_path / "history", {name: before})
    output = repo / name
    with serve_feed(server) as feed:
        result = run_scraper(
            "--output", str(output), "--url", feed.url, "--feed", "legacy" if legacy else "arcgis", "--commit"
        )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"Error: {message.format(url=feed.url)}; {output} left unchanged\n"
    assert output.read_bytes() == before
    assert sorted(p.name for p in repo.iterdir()) == [".git", name]
    assert commit_count(repo) == 1
    assert git(repo, "status", "--porcelain") == ""
    assert len(feed.requests) == requests_made


@pytest.mark.timing
@pytest.mark.parametrize("place", ["refused", "silent"])
def test_unreachable_server_leaves_file_untouched(tmp_path, place):
    output = tmp_path / "outages.json"
    output.write_bytes(fixture_bytes("arcgis-expected.json"))
    opened = refusing_port() if place == "refused" else silent_server()
    with opened as url:
        started = time.monotonic()
        result = run_scraper("--output", str(output), "--url", url, "--timeout", "0.3")
        elapsed = time.monotonic() - started
    expected = {
        "refused": f"connection refused by {url} (after 2 attempts)",
        "silent": f"no answer from {url} within 0.3 s (after 2 attempts)",
    }[place]
    assert result.exit_code == 1
    assert result.stderr == f"Error: {expected}; {output} left unchanged\n"
    assert output.read_bytes() == fixture_bytes("arcgis-expected.json")
    assert elapsed < 2


def test_corrupt_output_file_is_reported_not_overwritten(tmp_path):
    output = tmp_path / "outages.json"
    output.write_bytes(b'{"not": "a list"}\n')
    with serve_feed() as feed:
        result = run_scraper("--output", str(output), "--url", feed.url)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {output} is not a JSON list of outages; fix or delete it\n"
    assert output.read_bytes() == b'{"not": "a list"}\n'
    assert feed.requests == []


def test_missing_output_directory_is_reported(tmp_path):
    output = tmp_path / "missing" / "outages.json"
    with serve_feed() as feed:
        result = run_scraper("--output", str(output), "--url", feed.url)
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot write {output}: No such file or directory\n"


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "Missing option '-o' / '--output'."),
        (["-o", "x.json", "--feed", "rss"], "Invalid value for '--feed': 'rss' is not one of 'arcgis', 'legacy'."),
        (["-o", "x.json", "--timeout", "0"], "Invalid value for '--timeout': 0.0 is not in the range x>0."),
    ],
)
def test_usage_errors_exit_2(args, message):
    result = run_scraper(*args)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"Error: {message}"


# As a process, the way cron and CI run it -------------------------------------


def test_module_runs_as_a_process(tmp_path):
    output = tmp_path / "outages.json"
    command = [sys.executable, "-m", "scrapers", "pge", "--output", str(output), *FAST]
    with serve_feed() as feed:
        good = subprocess.run([*command, "--url", feed.url], capture_output=True, text=True, check=False)
        feed.fault = Reply(503, b"busy", "text/plain")
        bad = subprocess.run([*command, "--url", feed.url], capture_output=True, text=True, check=False)
    assert (good.returncode, good.stderr) == (0, "")
    assert good.stdout == f"{output}: 6 outages, 60 customers affected; written\n"
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert bad.stderr == (
        f"Error: HTTP 503 Service Unavailable from {feed.url} (after 2 attempts); {output} left unchanged\n"
    )
    assert output.read_bytes() == fixture_bytes("arcgis-expected.json")
