"""The machinery every scraper shares: fetch -> validate -> normalise -> compare -> write -> commit.

A utility's module describes its feeds as `Feed` objects; the functions here do
the rest, so scraping another utility means writing one new module.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from pge_outages.wire import render_records

from . import areas

USER_AGENT = "pge-outages-scraper/0.1 (git scraping of public outage feeds)"

Record = dict[str, Any]
T = TypeVar("T")
GetJson = Callable[[str, Mapping[str, str]], Any]
"""Fetch a URL with query parameters and return its parsed JSON, raising FeedError."""


class FeedError(RuntimeError):
    """The feed could not be fetched, or what it returned is not a snapshot we can trust.

    `transient` says whether trying again soon may help; `attempts` is filled in
    by the retry loop and shown in the message.
    """

    transient = False

    def __init__(self, message: str, *, transient: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if transient is not None:
            self.transient = transient
        self.attempts = 1

    def __str__(self) -> str:
        if self.attempts > 1:
            return f"{self.message} (after {self.attempts} attempts)"
        return self.message


class FeedUnreachable(FeedError):
    """No usable answer at the network level: the host name not found, refused, timed out, or cut off.

    Retried, except a host name the DNS says does not exist (see _connection_failure).
    """

    transient = True


class FeedHTTPError(FeedError):
    """The server answered with an HTTP error status."""


class FeedNotJSON(FeedError):
    """The body is an HTML page, or JSON that does not parse (often truncated)."""

    transient = True


class FeedServerError(FeedError):
    """The server answered 200 with an error object instead of data (ArcGIS does this)."""


class FeedInvalid(FeedError):
    """The JSON parsed but does not have the shape of a snapshot: missing lists, ids, or duplicates."""


class FeedCountMismatch(FeedError):
    """The pages add up to a different number of outages than the server's own count."""

    transient = True


class OutputError(ValueError):
    """The output file on disk cannot be read as a snapshot, or cannot be written."""


@dataclass(frozen=True)
class Feed:
    """One feed of one utility: where it lives, how to fetch it, which keys describe an outage.

    >>> Feed("arcgis", URL, fetch_mapserver, id_keys=("OUTAGE_ID", "F_OUTAGE_ID"), ...)  # doctest: +SKIP

    `fetch(get_json, url)` returns the feed's outages as flat dicts, raising FeedError.
    A record's id is under the first of `id_keys` it has. `part_key`, when set,
    names the list in each record of the parts of the feed (ArcGIS layers) it
    came from: a part that held outages and comes back empty is fetched again.
    """

    name: str
    default_url: str
    fetch: Callable[[GetJson, str], list[Record]]
    id_keys: tuple[str, ...]
    customers_key: str
    place_key: str
    cause_key: str
    drop_keys: tuple[str, ...] = ()
    part_key: str | None = None
    fetch_areas: Callable[[GetJson, str], dict[int, Any]] | None = None
    # When the feed says it was last refreshed (ISO 8601, UTC), or None: best effort, one request.
    fetch_updated: Callable[[GetJson, str], str | None] | None = None


@dataclass(frozen=True)
class Utility:
    """A utility with one or more feeds, exposed as one CLI command.

    >>> Utility("pge", "PG&E", {"arcgis": ..., "legacy": ...}, "arcgis", "PGE_OUTAGES_URL")  # doctest: +SKIP
    """

    name: str
    title: str
    feeds: Mapping[str, Feed]
    default_feed: str
    url_envvar: str


@dataclass(frozen=True)
class FetchPolicy:
    """How hard to try, in seconds: per-request timeout, attempts with doubling backoff, an overall bound.

    >>> FetchPolicy(timeout=0.5, attempts=2, backoff=0.01, deadline=5, recheck_delay=0.05).deadline
    5

    `recheck_delay` is the wait before fetching again when a feed suddenly reports no outages.
    """

    timeout: float = 30.0
    attempts: int = 4
    backoff: float = 5.0
    deadline: float = 240.0
    recheck_delay: float = 30.0


@dataclass(frozen=True)
class ScrapeResult:
    """What a scrape found and did: the new records, the ones on disk before, whether the file was rewritten.

    With areas: `areas` the ones read (None when they could not be, and the
    file was kept), `areas_written` whether the areas file was rewritten, and
    `area_note` one sentence for the commit message when the read was not
    clean, e.g. "Areas: 2 polygons repaired with make_valid; 1 skipped (outage 123: no rings)."
    """

    records: list[Record]
    previous: list[Record] | None
    written: bool
    rechecked: bool
    areas: dict[int, Any] | None = None
    areas_written: bool = False
    area_note: str | None = None
    # The areas file's bytes when the areas were read this time (None when kept from before).
    areas_data: bytes | None = None


def http_get_json(session: requests.Session, url: str, params: Mapping[str, str], timeout: float) -> Any:
    """GET url with params and return the parsed JSON, turning every way that fails into a FeedError.

    >>> http_get_json(requests.Session(), "http://127.0.0.1:8000/query", {"f": "json"}, 10)  # doctest: +SKIP
    """
    try:
        response = session.get(url, params=params, timeout=timeout)
        body = response.content
    except requests.ConnectTimeout:
        host = urlsplit(url).hostname or url
        raise FeedUnreachable(f"could not connect to {host} within {round(timeout, 1):g} s (timed out) "
                              f"for {url}") from None
    except requests.ReadTimeout:
        raise FeedUnreachable(f"no answer from {url} within {round(timeout, 1):g} s") from None
    except requests.exceptions.ChunkedEncodingError:
        raise FeedUnreachable(f"connection to {url} broke off mid-response") from None
    except requests.ConnectionError as exc:
        if "Read timed out" in str(exc):
            raise FeedUnreachable(f"no answer from {url} within {round(timeout, 1):g} s") from None
        raise _connection_failure(exc, url) from None
    except requests.RequestException as exc:
        raise FeedUnreachable(f"request to {url} failed: {type(exc).__name__}") from None
    if response.status_code >= 400:
        transient = response.status_code >= 500 or response.status_code in (408, 429)
        raise FeedHTTPError(
            f"HTTP {response.status_code} {response.reason} from {url}", transient=transient
        )
    content_type = response.headers.get("Content-Type", "")
    if "html" in content_type or body.lstrip()[:1] == b"<":
        raise FeedNotJSON(f"{url} returned an HTML page, not JSON")
    try:
        return json.loads(body)
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError) and _ends_early(exc, body):
            raise FeedNotJSON(f"{url} returned truncated JSON ({len(body):,} bytes)") from None
        raise FeedNotJSON(f"{url} returned invalid JSON ({exc})") from None


# What getaddrinfo says when the name has no address: the DNS answered, and will answer the same
# for a while (a negative answer is cached), so trying again within the run cannot help. Its
# EAI_AGAIN, "Temporary failure in name resolution", no DNS answer at all, is retried.
_NO_SUCH_NAME = {socket.EAI_NONAME, socket.EAI_FAIL, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


def _connection_failure(exc: requests.ConnectionError, url: str) -> FeedUnreachable:
    """Name what failed under a ConnectionError: the host lookup, or the connection, and why.

    requests wraps the socket's error in two or three layers of urllib3's; the
    innermost OSError says what happened.
    """
    cause = _innermost_os_error(exc)
    host = urlsplit(url).hostname or url
    if isinstance(cause, socket.gaierror):
        return FeedUnreachable(f"could not look up the host {host} ({cause.strerror}) for {url}",
                               transient=cause.errno not in _NO_SUCH_NAME)
    if isinstance(cause, ConnectionRefusedError):
        return FeedUnreachable(f"connection refused by {url}")
    reason = (cause.strerror or str(cause)) if cause is not None else type(exc).__name__
    return FeedUnreachable(f"could not connect to {host} ({reason}) for {url}")


def _innermost_os_error(exc: BaseException) -> OSError | None:
    found = None
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and not isinstance(current, requests.RequestException):
            found = current
        # urllib3 keeps the cause of a MaxRetryError in `reason`, not in __cause__.
        nested = getattr(current, "reason", None)
        current = nested if isinstance(nested, BaseException) else (current.__cause__ or current.__context__)
    return found


def _ends_early(exc: json.JSONDecodeError, body: bytes) -> bool:
    # The parser stops at the end of the input, or inside a string that never closes.
    return exc.pos >= len(body.rstrip()) or exc.msg.startswith("Unterminated string")


def call_with_retry(
    attempt: Callable[[], T],
    policy: FetchPolicy,
    deadline: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call attempt() until it succeeds, retrying transient FeedErrors with doubling backoff until the deadline.

    >>> call_with_retry(lambda: feed.fetch(get_json, url), FetchPolicy(), time.monotonic() + 60)  # doctest: +SKIP
    """
    delay = policy.backoff
    number = 1
    while True:
        try:
            return attempt()
        except FeedError as exc:
            exc.attempts = number
            if not exc.transient or number >= policy.attempts or clock() + delay >= deadline:
                raise
        sleep(delay)
        delay *= 2
        number += 1


def record_id(feed: Feed, record: Record) -> Any:
    """The outage id of a record: the value of the first of the feed's id keys it has.

    >>> from scrapers.pge import PGE
    >>> record_id(PGE.feeds["arcgis"], {"F_OUTAGE_ID": 7})
    7
    """
    for key in feed.id_keys:
        value = record.get(key)
        if value is not None:
            return value
    return None


def integer_id(url: str, id_name: str, value: Any, number: int, total: int) -> int:
    """An outage id as an integer, whether the feed sent 336858 or "336858"; FeedInvalid otherwise.

    >>> integer_id("https://example.com/4/query", "OUTAGE_ID", " 336858", 1, 10)
    336858
    """
    if value is None or value == "":
        raise FeedInvalid(f"{url}: outage {number} of {total} has no {id_name}")
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise FeedInvalid(f"{url}: {id_name} {value!r} is not a whole number")
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise FeedInvalid(f"{url}: {id_name} {value!r} is not a number") from None


def clean_records(feed: Feed, url: str, records: list[Record]) -> list[Record]:
    """Check every record has a unique numeric id, drop volatile keys, and sort by id numerically.

    >>> from scrapers.pge import PGE
    >>> clean_records(PGE.feeds["arcgis"], "https://example.com",
    ...               [{"F_OUTAGE_ID": "2", "OBJECTID": 9}, {"F_OUTAGE_ID": 1}])
    [{'F_OUTAGE_ID': 1}, {'F_OUTAGE_ID': '2'}]
    """
    id_name = " or ".join(feed.id_keys)
    ids = [
        integer_id(url, id_name, record_id(feed, record), number, len(records))
        for number, record in enumerate(records, 1)
    ]
    duplicates = sorted(outage_id for outage_id, n in Counter(ids).items() if n > 1)
    if duplicates:
        shown = ", ".join(str(outage_id) for outage_id in duplicates[:5])
        raise FeedInvalid(f"{url}: duplicate {id_name} {shown}")
    cleaned = [{k: v for k, v in record.items() if k not in feed.drop_keys} for record in records]
    return [record for _, record in sorted(zip(ids, cleaned, strict=True), key=lambda pair: pair[0])]


def fetch_records(
    feed: Feed,
    url: str,
    session: requests.Session,
    policy: FetchPolicy,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[Record]:
    """Fetch, validate and normalise one snapshot of a feed, retrying transient failures within policy.deadline.

    >>> fetch_records(PGE.feeds["arcgis"], url, requests.Session(), FetchPolicy(timeout=10))  # doctest: +SKIP
    """
    deadline = clock() + policy.deadline

    def get_json(request_url: str, params: Mapping[str, str]) -> Any:
        # No single request may outlive the overall bound.
        timeout = max(0.01, min(policy.timeout, deadline - clock()))
        return http_get_json(session, request_url, params, timeout)

    def attempt() -> list[Record]:
        return clean_records(feed, url, feed.fetch(get_json, url))

    return call_with_retry(attempt, policy, deadline, sleep, clock)


def fetch_snapshot(
    feed: Feed,
    url: str,
    session: requests.Session,
    policy: FetchPolicy,
    with_areas: bool,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    records: list[Record] | None = None,
) -> tuple[list[Record], areas.AreaShapes | None, FeedError | None]:
    """The outages, then with_areas each one's simplified area, within policy.deadline; areas never cost outages.

    >>> records, shapes, area_error = fetch_snapshot(  # doctest: +SKIP
    ...     PGE.feeds["arcgis"], url, session, FetchPolicy(), True)

    The outages are fetched first, with retries, and their FeedError is raised.
    The areas follow, with retries, in what is left of the deadline; when they
    fail, shapes is None and area_error says why. Given records (outages
    already fetched), only the areas are fetched.
    """
    deadline = clock() + policy.deadline

    def get_json(request_url: str, params: Mapping[str, str]) -> Any:
        timeout = max(0.01, min(policy.timeout, deadline - clock()))
        return http_get_json(session, request_url, params, timeout)

    if records is None:
        records = call_with_retry(
            lambda: clean_records(feed, url, feed.fetch(get_json, url)), policy, deadline, sleep, clock
        )
    fetch_areas = feed.fetch_areas
    if not with_areas or fetch_areas is None:
        return records, None, None
    if clock() >= deadline:
        return records, None, FeedUnreachable(f"no time left for them within the {policy.deadline:g} s deadline")
    try:
        shapes = call_with_retry(lambda: fetch_areas(get_json, url), policy, deadline, sleep, clock)
    except FeedError as error:
        return records, None, error
    return records, areas.simplify_areas(shapes), None


def parse_snapshot(data: bytes, name: str) -> list[Record]:
    """Parse a snapshot file's bytes into its list of records, raising OutputError if it is not one.

    >>> parse_snapshot(Path("outages.json").read_bytes(), "outages.json")  # doctest: +SKIP
    """
    try:
        records = json.loads(data)
    except ValueError as exc:
        raise OutputError(f"{name} is not valid JSON ({exc}); fix or delete it") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise OutputError(f"{name} is not a JSON list of outages; fix or delete it")
    return records


def read_output(path: Path) -> bytes | None:
    """The bytes of the output file, or None when there is no file yet.

    >>> read_output(Path("outages.json"))  # doctest: +SKIP
    """
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror}") from None


def write_atomically(path: Path, data: bytes) -> None:
    """Replace path with data via a temporary file and a rename, so readers never see half a file.

    >>> write_atomically(Path("outages.json"), b"[]\\n")  # doctest: +SKIP
    """
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None


def scrape_to_file(
    feed: Feed,
    output: Path,
    url: str,
    session: requests.Session,
    policy: FetchPolicy,
    sleep: Callable[[float], None] = time.sleep,
    areas_output: Path | None = None,
) -> ScrapeResult:
    """Fetch a snapshot and write it to output when it differs; on any error the file is left as it was.

    >>> scrape_to_file(PGE.feeds["arcgis"], Path("outages.json"), url,  # doctest: +SKIP
    ...                requests.Session(), FetchPolicy())

    An empty feed replacing a non-empty file is only believed if a second fetch,
    policy.recheck_delay seconds later, is empty too; otherwise the second fetch
    is used. With areas_output, the outage areas are fetched after the outages
    and written there, and a sudden lack of areas is checked the same way (the
    areas alone are fetched again). Areas that cannot be read leave their file
    as it was (one with no areas is written when there is none, so both files
    can be committed) and the outages are written all the same; area_note says
    what happened.
    """
    existing = read_output(output)
    previous = parse_snapshot(existing, str(output)) if existing is not None else None
    existing_areas = read_output(areas_output) if areas_output is not None else None
    with_areas = areas_output is not None
    records, shapes, area_error = fetch_snapshot(feed, url, session, policy, with_areas, sleep)
    outages_emptied = emptied_parts(feed, previous, records)
    areas_emptied = shapes is not None and not shapes and bool(areas.read_areas(existing_areas))
    rechecked = outages_emptied or areas_emptied
    if rechecked:
        sleep(policy.recheck_delay)
        again = None if outages_emptied else records
        records, shapes, area_error = fetch_snapshot(feed, url, session, policy, with_areas, sleep, records=again)
    data = render_records(records)
    areas_written = False
    area_note = areas_data = None
    if areas_output is not None:
        if shapes is not None:
            area_note = areas.describe_read(shapes)
        elif existing_areas is not None:
            area_note = f"Areas: {area_error}; kept the last good version."
        else:
            area_note = f"Areas: {area_error}; with no earlier version to keep, wrote one with no areas."
        if shapes is not None or existing_areas is None:
            rendered = areas.render_areas(shapes or {})
            areas_written = rendered != existing_areas
            if areas_written:
                write_atomically(areas_output, rendered)
            areas_data = rendered if shapes is not None else None
    written = data != existing
    if written:
        write_atomically(output, data)
    return ScrapeResult(records, previous, written, rechecked, shapes, areas_written, area_note, areas_data)


def emptied_parts(feed: Feed, previous: list[Record] | None, records: list[Record]) -> bool:
    """Whether the feed, or one part of it (an ArcGIS layer), held outages before and holds none now.

    >>> from scrapers.pge import ARCGIS
    >>> emptied_parts(ARCGIS, [{"OUTAGE_ID": 1, "layers": [4]}], [{"F_OUTAGE_ID": 2, "layers": [5]}])
    True

    PG&E's layer 4 answers `"features": []` for one scrape now and then while
    the other layer goes on: such a blip is only believed after a second fetch.
    """
    if not records:
        return bool(previous)
    if feed.part_key is None or not previous:
        return False
    before = {part for record in previous for part in record.get(feed.part_key) or ()}
    now = {part for record in records for part in record.get(feed.part_key) or ()}
    return bool(before - now)

