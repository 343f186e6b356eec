"""A Datasette plugin that keeps the pages of the expanded views fast, and readable.

`outage_snapshots` is one row per outage per snapshot (`area_snapshots` one
per area per snapshot): millions of rows, cheap to read by snapshot or by
outage, slow to count or facet whole. Unless a
request filters it by one of those, the plugin asks Datasette not to count or
facet it, so the page shows its first rows at once.

It also shows every time in the HTML tables in Pacific time (the JSON and SQL
keep the stored value), and draws the chart of `customers_over_time`. It replays a
period's snapshots on a map (`/-/replay`) and shows an outage's history on its own page. atom.py
serves the Atom feed of alerts.
"""

import json
import re
import sqlite3
from contextvars import ContextVar
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

import orjson
from datasette import hookimpl
from datasette.utils import sqlite_timelimit, tilde_decode, tilde_encode, urlsafe_components
from datasette.utils.asgi import NotFound, Response
from datasette_leaflet import CSS_FILE as LEAFLET_CSS
from datasette_leaflet import JS_FILE as LEAFLET_JS
from markupsafe import Markup

from ..empty_pages import empty_reasons
from ..glitches import coverage_hours
from ..pages import (
    FRAME_SIZE,
    MAP_SHADES,
    BadReplayParameter,
    draw_customers_chart,
    query_parameter_problems,
    read_county_map,
    read_feed_changes,
    read_frame_request,
    read_frames,
    read_moment,
    read_outage_history,
    read_suspect_spans,
)
from ..times import DST_RULE, NAIVE_RULE, PACIFIC, format_time, read_seconds, register_sql_functions, stored_moment
from . import atom
from .atom import content_html, register_magic_parameters, register_output_renderer  # noqa: F401
from .databases import metadata_for, our_databases

# atom.py's hooks (register_magic_parameters, register_output_renderer) are registered with this
# module's, whose names they are imported under; its SQL functions with prepare_connection's.

# The outage page's replay link opens this many seconds before and after the outage.
REPLAY_MARGIN = 30 * 60
EXPANDED_VIEWS = ("outage_snapshots", "area_snapshots")
CHEAP_FILTERS = ("snapshot", "outage")


def needs_nocount(path: str, query_string: str) -> bool:
    table = path.rstrip("/").rsplit("/", 1)[-1].split(".", 1)[0]
    if table not in EXPANDED_VIEWS:
        return False
    for key, _ in parse_qsl(query_string):
        if key.split("__", 1)[0] in CHEAP_FILTERS:
            return False
    return True


# Set for a request of an expanded view left uncounted. Its page draws no cluster map: the map
# would show the first thousand of millions of rows, of any snapshot, and its "showing N of
# total" needs the count the page skips (datasette-cluster-map fails on a null total). Filtered
# by snapshot or outage, the page is counted and mapped.
UNCOUNTED: ContextVar[bool] = ContextVar("pge_outages_uncounted", default=False)


def _no_cluster_map() -> dict:
    # A new dict each time: Datasette merges other metadata into what the hook returns.
    return {"datasette-cluster-map": {"latitude_column": "-", "longitude_column": "-"}}


@hookimpl
def register_commands(cli):
    # `datasette pge-outages serve`: the pge-outages installed beside this Datasette, which is
    # how deploy/serve.sh, given only the datasette command ($DATASETTE), runs `pge-outages serve`.
    from ..cli import cli as pge_outages

    cli.add_command(pge_outages, name="pge-outages")


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def skip_counting(scope, receive, send):
            uncounted = False
            if scope["type"] == "http" and scope.get("method") == "GET":
                query = scope.get("query_string", b"").decode()
                if needs_nocount(scope["path"], query):
                    extra = "_nocount=1&_nofacet=1"
                    scope = dict(scope, query_string=f"{query}&{extra}".lstrip("&").encode())
                    uncounted = True
            token = UNCOUNTED.set(uncounted)
            try:
                await app(scope, receive, send)
            finally:
                UNCOUNTED.reset(token)

        return skip_counting

    return wrap


# Times a visitor can read. The feed's times are Unix seconds (UTC), snapshot titles ISO 8601
# with the scraper's offset, and some canned queries give UTC text ending in Z: every one of
# them is shown in Pacific time, with its offset, in HTML tables only (render_cell).

# Columns of Unix seconds (UTC): the feed's times, snapshots' `when`, restoration_slips' own.
UNIX_TIME_COLUMNS = frozenset({
    "outageStartTime", "lastUpdateTime", "currentEtor", "autoEtor", "crewEta", "when",
    "first_currentEtor", "last_currentEtor", "ended", "earliest_change", "watched_since",
    "unseen_from", "unseen_to",
})
# Columns of ISO 8601 text with an offset: snapshot titles and the canned queries' times.
ISO_TIME_COLUMNS = frozenset({
    "title", "time", "earliest", "latest", "gap_start", "gap_end", "first_seen", "last_seen",
    "snapshot_time", "last_before", "first_after", "started", "estimated_restoration",
    "last_update", "atom_updated",
})


def read_time(value, column: str) -> datetime | None:
    """The moment a cell of `column` holds, or None when it holds no time."""
    if column in UNIX_TIME_COLUMNS or (column in ISO_TIME_COLUMNS and isinstance(value, str)):
        return stored_moment(value)
    return None


def pacific_time(moment: datetime) -> str:
    """`2019-10-26 14:00 PDT (-07:00)`, with the seconds when there are some."""
    local = moment.astimezone(PACIFIC)
    offset = local.strftime("%z")
    clock = "%H:%M:%S" if local.second else "%H:%M"
    return local.strftime(f"%Y-%m-%d {clock} %Z") + f" ({offset[:3]}:{offset[3:]})"


def _time_html(moment: datetime, stored) -> Markup:
    local = moment.astimezone(PACIFIC).isoformat()
    return Markup('<time datetime="{}" title="{}">{}</time>').format(local, stored, pacific_time(moment))


# Numbers people read, with thousands separators, in HTML tables only: counts and customer-minutes
# (or -hours) whole, other hours and minutes to a tenth. Only columns named here: never an id, a
# coordinate or a time, whatever its size. The JSON and CSV keep the stored value.
WHOLE_NUMBER_COLUMNS = frozenset({
    "estCustAffected", "min_estCustAffected", "max_estCustAffected", "customers", "customers_affected",
    "customers_out", "peak_customers", "largest", "outages", "outage_count", "snapshot_count",
    "num_snapshots", "snapshots", "inferred", "ignored_records", "skipped_versions", "deviceCount",
    "customer_minutes", "customer_minutes_settled", "customer_hours", "trusted_minutes_cum",
    "seconds_since_previous", "gap_seconds", "scrape_interval",
})
TENTHS_COLUMNS = frozenset({
    "gap_hours", "gap_minutes", "duration_hours", "duration_hours_min", "duration_hours_max",
    "possible_duration_hours", "etor_slipped_hours", "hours_past_first_etor", "restoration_slipped_hours",
    "watched_hours", "quiet_hours", "blind_hours", "unknown_hours", "trusted_minutes",
})


def format_number(value, column: str) -> str | None:
    """`4,996,380` for 4996380.0 in a column of counts; None for a cell that is not such a number.

    >>> format_number(580125.5166, "customer_minutes"), format_number(1234.56, "gap_hours")
    ('580,126', '1,234.6')
    >>> format_number(2.0, "gap_minutes"), format_number(1572139440, "outage")
    ('2', None)
    """
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
        return None
    if column in WHOLE_NUMBER_COLUMNS:
        return f"{round(value):,}"
    if column in TENTHS_COLUMNS:
        text = f"{value:,.1f}"
        return text[:-2] if text.endswith(".0") else text
    return None


def describe_geometry(text: str) -> str | None:
    """`Polygon, 5 points` for a GeoJSON geometry's text; None for text that is not one.

    >>> describe_geometry('{"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}')
    'Polygon, 4 points'
    """
    try:
        geometry = json.loads(text)
    except ValueError:
        return None
    if not isinstance(geometry, dict) or not isinstance(geometry.get("type"), str) or "coordinates" not in geometry:
        return None

    def points(coordinates) -> int:
        if isinstance(coordinates, list) and coordinates and isinstance(coordinates[0], (int, float)):
            return 1
        return sum(points(c) for c in coordinates) if isinstance(coordinates, list) else 0

    count = points(geometry["coordinates"])
    return f"{geometry['type']}, {count:,} point{'' if count == 1 else 's'}"


@hookimpl
def render_cell(value, column, table, database, datasette):
    if isinstance(value, dict) and "label" in value:
        # A reference Datasette shows by its label: a snapshot, labelled by its title.
        moment = stored_moment(value["label"]) if isinstance(value["label"], str) else None
        return None if moment is None or table is None else _labelled_html(
            datasette, database, table, column, value, moment)
    if table is not None and column.endswith("snapshot") and type(value) is int:
        # A snapshot Datasette did not label (an outage's own page): its time, linking to it.
        return _snapshot_html(datasette, database, table, column, value)
    if column == "atom_content_html":
        # The alerts feed's entries (atom.py), on the query's page as a feed reader shows them.
        return content_html(value)
    if column == "geometry" and isinstance(value, str):
        # The map above draws it: the table says what it is, not its thousands of coordinates.
        summary = describe_geometry(value)
        return None if summary is None else Markup('<span class="geometry">{}</span>').format(summary)
    number = format_number(value, column)
    if number is not None:
        # Datasette shows 4996380.0 as it is stored: the page shows it as people write it.
        return None if number == str(value) else Markup('<span class="number" title="{}">{}</span>').format(
            value, number)
    moment = read_time(value, column)
    return None if moment is None else _time_html(moment, value)


async def _snapshot_html(datasette, database: str, table: str, column: str, snapshot: int):
    if (await _references(datasette, database, table)).get(column) != "snapshots":
        return None
    found = (await datasette.get_database(database).execute(
        "select title from snapshots where id = ?", [snapshot])).first()
    moment = stored_moment(found[0]) if found and isinstance(found[0], str) else None
    if moment is None:
        return None
    return _reference_html(datasette, database, "snapshots", {"value": snapshot, "label": found[0]}, moment)


async def _labelled_html(datasette, database: str, table: str, column: str, value: dict, moment: datetime):
    other = (await _references(datasette, database, table)).get(column)
    return None if other is None else _reference_html(datasette, database, other, value, moment)


def _reference_html(datasette, database: str, other: str, value: dict, moment: datetime) -> Markup:
    href = datasette.urls.row(database, other, tilde_encode(str(value["value"])))
    return Markup('<a href="{}">{}</a>&nbsp;<em>{}</em>').format(
        href, _time_html(moment, value["label"]), value["value"])


async def _references(datasette, database: str, table: str) -> dict[str, str]:
    """Each column of `table` that refers to another table, and that table. Asked for every cell
    that may be a reference, so read once per table, until the databases served change."""
    served = tuple(datasette.databases)
    known = getattr(datasette, "_pge_outages_references", None)
    if known is None or known[0] != served:
        known = datasette._pge_outages_references = (served, {})
    tables: dict[tuple[str, str], dict[str, str]] = known[1]
    if (database, table) not in tables:
        keys = await datasette.get_database(database).foreign_keys_for_table(table)
        tables[database, table] = {key["column"]: key["other_table"] for key in keys}
    return tables[database, table]


# The chart of customers_over_time, drawn with the Vega-Lite that datasette-dashboards
# ships in its static folder: Datasette serves it, so the page needs no CDN.

CHART_QUERY = "customers_over_time"
VEGA_FILES = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")


def is_chart_page(template: str, request) -> bool:
    return template == "query.html" and request is not None and request.path.rstrip("/").endswith(f"/{CHART_QUERY}")


# Datasette serves static/ under the distribution's name: /-/static-plugins/pge-outages/
PLUGIN = "pge-outages"


@hookimpl
def extra_css_urls(template, datasette):
    """static/pages.css on the pages of tables, views and queries."""
    if template not in ("table.html", "query.html"):
        return []
    return [datasette.urls.static_plugins(PLUGIN, "pages.css")]


@hookimpl
def extra_js_urls(template, request, datasette, columns):
    """The page's scripts, from static/: Vega and the chart on the chart's page; on a page of a table
    or a query the script that keeps an empty one from failing (static/empty-results.js), and on a
    page of areas (a `geometry` column) the one that colours them (static/areas-map.js)."""
    urls: list[str | dict] = []
    if is_chart_page(template, request):
        urls += [datasette.urls.static_plugins("datasette_dashboards", name) for name in VEGA_FILES]
        urls.append({"url": datasette.urls.static_plugins(PLUGIN, "customers-chart.js"), "module": True})
    if template in ("table.html", "query.html"):
        # datasette-vega, on every such page, fails on one with no rows: see static/empty-results.js.
        urls.append({"url": datasette.urls.static_plugins(PLUGIN, "empty-results.js"), "module": True})
    if template in ("table.html", "query.html") and "geometry" in (columns or []):
        urls.append({"url": datasette.urls.static_plugins(PLUGIN, "areas-map.js"), "module": True})
    return urls


@hookimpl
def extra_body_script(template, columns):
    """On a page of areas, the shades static/areas-map.js colours them with: the county map's."""
    if template not in ("table.html", "query.html") or "geometry" not in (columns or []):
        return ""
    return f"window.pgeOutages = Object.assign(window.pgeOutages || {{}}, {json.dumps({'shades': MAP_SHADES})});"


@hookimpl(specname="extra_body_script")
def chart_marks(template, database, request, datasette):
    """On the chart's page, what static/customers-chart.js marks besides the query's rows: the
    feed's changes and the runs of suspect snapshots in the period, as window.pgeOutagesChartMarks."""
    if not is_chart_page(template, request):
        return None
    start, end = read_seconds(request.args.get("from")), read_seconds(request.args.get("to"))

    def read(conn):
        return {"feedChanges": read_feed_changes(conn), "suspectSpans": read_suspect_spans(conn, start, end)}

    async def script():
        try:
            marks = await _read(datasette, read, database)
        except sqlite3.OperationalError:  # over sql_time_limit_ms: the chart goes without them
            marks = {"feedChanges": [], "suspectSpans": []}
        # Inside <script>: "</" would end it.
        return "window.pgeOutagesChartMarks = " + json.dumps(marks).replace("</", "<\\/") + ";"

    return script


# The replay of a period on the map (/-/replay, its frames from /-/replay.json) and the
# history on an outage's own page (/outages/outages/<id>): templates in
# pge_outages/datasette_plugin/templates, data from pge_outages/pages.py. These hooks are registered under
# their hook's name (specname) so that their own names never clash with other hooks here.

REPLAY_TEMPLATE = "pge-outages-replay.html"
COUNTY_MAP_TEMPLATE = "pge-outages-counties.html"
OUTAGE_TEMPLATE = "row.html"
TILES = "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png"
TILES_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'


@hookimpl(specname="register_routes")
def replay_routes():
    # /<database>/-/replay reads the database it names; /-/replay the first this tool built.
    from .event_views import event_page, events_page, reliability_page

    event = r"events/(?P<event>\d{4}-\d\d-\d\d(?:\.\d+)?)"  # its key: the Pacific day it began
    pages = [("replay", replay_page), (r"replay\.json", replay_frames), ("counties", county_map_page),
             ("events", events_page), (event, event_page), ("reliability", reliability_page)]
    return [(rf"^/(?:(?P<database>[^/]+)/)?-/{path}$", view) for path, view in pages]


@hookimpl
def get_metadata(datasette, key, database, table):
    """metadata.yml's descriptions, queries and hidden tables, for every database this tool built, by its own name."""
    metadata = metadata_for(datasette, key, database, table)
    if key == "plugins" and UNCOUNTED.get():
        metadata["plugins"] = {**metadata.get("plugins", {}), **_no_cluster_map()}
        if database is not None and table is not None:
            # Above any configuration of the database or table, which the lookup reads first.
            tables = metadata.setdefault("databases", {}).setdefault(database, {}).setdefault("tables", {})
            tables.setdefault(table, {})["plugins"] = _no_cluster_map()
    return metadata


def outages_database(datasette, name: str | None = None):
    """The database named `name` (NotFound when none is), else the first this tool built, else the first."""
    if name is not None:
        try:
            return datasette.get_database(name)
        except KeyError:
            raise NotFound(f"Database not found: {name}") from None
    ours = our_databases(datasette)
    return datasette.get_database(ours[0] if ours else None)


def _named(request) -> str | None:
    """The database a page's path names (/<database>/-/replay), tilde-decoded; None for /-/replay."""
    name = request.url_vars.get("database")
    return tilde_decode(name) if name else None


async def _read(datasette, fn, database: str | None = None):
    """fn(conn) on the database, stopped like any query after sql_time_limit_ms."""
    limit_ms = datasette.setting("sql_time_limit_ms")

    def within_limit(conn):
        with sqlite_timelimit(conn, limit_ms):
            return fn(conn)

    return await outages_database(datasette, database).execute_fn(within_limit)


def _clock(when: int) -> str:
    return pacific_time(datetime.fromtimestamp(when, UTC))


def _pacific_offset(when: int) -> int:
    offset = datetime.fromtimestamp(when, PACIFIC).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _tick(when: int) -> str:
    local = datetime.fromtimestamp(when, PACIFIC)
    return f"{local:%b} {local.day} {local:%H:%M}"


def shown_county_map(county_map: dict) -> dict:
    """The county map with its moment as the page shows it, and as its table's link gives it (the
    table reads times with SQLite, which knows fewer forms than the page: it gets the snapshot's)."""
    county_map["time"] = _clock(county_map["when"])
    county_map["table_at"] = format_time(county_map["when"])
    return county_map


def _leaflet(datasette) -> dict:
    return {
        "leaflet_js": datasette.urls.static_plugins("datasette-leaflet", LEAFLET_JS),
        "leaflet_css": datasette.urls.static_plugins("datasette-leaflet", LEAFLET_CSS),
        "tiles": TILES,
        "attribution": TILES_ATTRIBUTION,
    }


def _error(message: str, status: int) -> Response:
    return Response.json({"ok": False, "error": message, "status": status}, status=status)


async def replay_frames(datasette, request):
    """Frames of a replay, as JSON: /-/replay.json?from=...&to=...&offset=N&limit=M."""
    try:
        start, end, offset, limit = read_frame_request(request.args)
    except BadReplayParameter as error:
        return _error(str(error), 400)
    try:
        frames = await _read(datasette, lambda conn: read_frames(conn, start, end, offset, limit, _clock),
                             _named(request))
    except sqlite3.OperationalError as error:
        if error.args != ("interrupted",):
            raise
        return _error(f"these frames took over sql_time_limit_ms: ask for fewer than limit={limit}", 503)
    return Response(orjson.dumps(frames), content_type="application/json; charset=utf-8")


async def replay_page(datasette, request):
    """The map replaying a period: /-/replay?from=...&to=..."""
    error = None
    try:
        _, _, _, limit = read_frame_request(request.args)
    except BadReplayParameter as bad:
        error, limit = str(bad), FRAME_SIZE
    database = outages_database(datasette, _named(request)).name
    replay = {
        "json_url": datasette.urls.database(database) + "/-/replay.json",
        "outage_url": datasette.urls.table(database, "outages"),
        "from": request.args.get("from") or "",
        "to": request.args.get("to") or "",
        "limit": limit,
        **_leaflet(datasette),
    }
    html = await datasette.render_template(
        REPLAY_TEMPLATE, {"replay": replay, "error": error, "time_note": TIME_NOTE},
        request=request)
    return Response.html(html, status=400 if error else 200)


async def county_map_page(datasette, request):
    """Each county shaded by customers out at a moment: /-/counties?at=..."""
    text = request.args.get("at") or ""
    database = outages_database(datasette, _named(request)).name
    county_map, error, status = None, None, 200
    try:
        at = read_moment(text, "at")
    except BadReplayParameter as bad:
        error, status = str(bad), 400
    else:
        county_map = await _read(datasette, lambda conn: read_county_map(conn, at), database)
        if county_map is None:
            error = ("No trustworthy snapshot at or before that time." if at is not None
                     else "This database has no snapshots yet, or was built before counties were recorded.")
        else:
            shown_county_map(county_map)
    html = await datasette.render_template(COUNTY_MAP_TEMPLATE, {
        "county_map": county_map, "error": error, "at": text, "time_note": TIME_NOTE,
        "counties_at": datasette.urls.database(database) + "/counties_at",
        "form_action": datasette.urls.database(database) + "/-/counties",
    }, request=request)
    return Response.html(html, status=status)


# The home page says how much of the last COVERAGE_DAYS the archive saw.
COVERAGE_DAYS = 30


@hookimpl(specname="extra_template_vars")
def home_page_vars(template, datasette):
    if template != "index.html":
        return {}

    async def coverage():
        # One paragraph for each database this tool built, named when there are several.
        coverages = []
        for name in our_databases(datasette):
            found = await _read(datasette, read_recent_coverage, name)
            if found:
                found["database"] = name
                found["gaps_url"] = datasette.urls.query(name, "scraper_gaps")
                found["days_url"] = datasette.urls.table(name, "coverage_by_day")
                coverages.append(found)
        return {"coverages": coverages}

    return coverage


def read_recent_coverage(conn: sqlite3.Connection, days: int = COVERAGE_DAYS) -> dict | None:
    """The hours of each gap class in the last `days` days of the history, with their shares."""
    first, latest = conn.execute("select min([when]), max([when]) from snapshots").fetchone()
    if latest is None or "gap_class" not in {row[1] for row in conn.execute("pragma table_info(snapshots)")}:
        return None
    hours = coverage_hours(conn, since=latest - days * 86400)
    total = sum(hours.values())
    if not total:
        return None
    return {
        # A history shorter than that is covered whole.
        "period": f"the {days} days" if latest - first >= days * 86400 else "the whole history",
        "until": pacific_time(datetime.fromtimestamp(latest, UTC)),
        "total": round(total),
        "classes": [(name, round(value, 1), round(100 * value / total)) for name, value in hours.items()],
    }


@hookimpl
def prepare_connection(conn):
    """The SQL functions of the canned queries: unix_time(), with which they read the times typed
    into them (times.py), and the alerts feed's (atom.py)."""
    register_sql_functions(conn)
    atom.register_sql_functions(conn)


# Said beside each box a time is typed into: the query form's, /-/replay's and /-/counties'.
TIME_NOTE = Markup(' <small class="time-rule">ISO 8601, {} ({})</small>').format(NAIVE_RULE, DST_RULE)
# A box of the query form a time is typed into, as Datasette's query.html writes it.
_TIME_BOX = re.compile(r'(<input type="text" id="qp\d+" name="(?:at|from|to)" value="[^"]*">)')


def note_time_parameters(html: str) -> Markup:
    """The query form, with the rule for a time without an offset beside each box a time is typed
    into: Datasette's template has no block for one (templates/query.html)."""
    return Markup(_TIME_BOX.sub(lambda box: box.group(1) + str(TIME_NOTE), str(html)))


@hookimpl
def prepare_jinja2_environment(env):
    env.filters["note_time_parameters"] = note_time_parameters


@hookimpl(specname="extra_template_vars")
def table_page_vars(template, database, table, datasette):
    """A table's or view's page gets its columns' descriptions as column_glossary, which
    templates/table.html folds away, and its metadata without them, which Datasette's own
    table.html would list in full above the data."""
    if template != "table.html" or table is None:
        return {}
    metadata = dict(datasette.table_metadata(database, table))
    glossary = metadata.pop("columns", None)
    if not glossary:
        return {}
    datasette.update_with_inherited_metadata(metadata)
    return {"metadata": metadata, "column_glossary": glossary}


@hookimpl(specname="extra_template_vars")
def query_page_vars(template, request):
    """A canned query's page says which of its parameters it could not read, and why."""
    if template != "query.html" or request is None:
        return {}
    return {"parameter_problems": query_parameter_problems(request.args)}


@hookimpl(specname="extra_template_vars")
def empty_page_vars(template, database, table, request, datasette):
    """Why a table, view or canned query page of a database this tool built may show no rows."""
    if template not in ("table.html", "query.html") or request is None or database not in our_databases(datasette):
        return {}
    page = table or tilde_decode(request.url_vars.get("table") or "")
    args = dict(request.args)

    async def reasons():
        return {"empty_reasons": await _read(datasette, lambda conn: empty_reasons(conn, page, args), database)}

    return reasons


@hookimpl(specname="extra_template_vars")
def outage_page_vars(template, database, table, view_name, request, datasette):
    if template != OUTAGE_TEMPLATE or view_name != "row" or table != "outages" or request is None:
        return {}
    if database not in our_databases(datasette):
        return {}

    async def history():
        try:
            outage = int(urlsafe_components(request.url_vars["pks"])[0])
        except (KeyError, IndexError, ValueError):
            return {}
        found = await _read(datasette, lambda conn: read_outage_history(conn, outage), database)
        if found is None:
            return {}
        period = urlencode({"from": format_time(found["first_seen"] - REPLAY_MARGIN),
                            "to": format_time(found["last_seen"] + REPLAY_MARGIN)})
        versions = [
            dict(v, first_seen=_clock(v["first_seen"]), last_seen=_clock(v["last_seen"]),
                 etor=_clock(v["etor"]) if v["etor"] is not None else None)
            for v in found["versions"]
        ]
        return {"outage_page": {
            "chart": draw_customers_chart(found["customers"], _tick, utc_offset=_pacific_offset),
            "duration_hours": found["duration_hours"],
            "duration_uncertain": found["duration_uncertain"],
            "versions": versions,
            "more_versions": found["more_versions"],
            "location": {
                "latitude": found["latitude"],
                "longitude": found["longitude"],
                "area": json.loads(found["area"]) if found["area"] else None,
                **_leaflet(datasette),
            },
            "replay_url": f"{datasette.urls.database(database)}/-/replay?{period}",
            "history_url": f"{datasette.urls.query(database, 'outage_history')}?{urlencode({'outage': outage})}",
        }}

    return history
