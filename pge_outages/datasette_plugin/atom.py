"""The Atom feed of large outages and events: metadata.yml's `alerts` query, read as /<database>/alerts.atom.

datasette-atom renders it. This module gives the query what SQL alone cannot: the database's name and
address (the magic parameters :_database_name and :_database_url, so its ids and links are right under
any file name and host), times as a reader in California reads them (the SQL function pacific_time),
and a valid empty feed where datasette-atom 0.9 fails on a query with no rows.
"""

from datetime import UTC, datetime
from html import escape

import datasette_atom
from datasette import __version__ as datasette_version
from datasette import hookimpl
from datasette.utils import tilde_decode, tilde_encode
from datasette.utils.asgi import Response
from feedgen.feed import FeedGenerator
from markupsafe import Markup

from ..times import PACIFIC, stored_moment


def reader_time(value) -> str | None:
    """`Sun, Oct 27, 2019, 3:20 PM PDT` for Unix seconds or ISO 8601 text with an offset; None otherwise.

    >>> reader_time(1572214818), reader_time("2019-12-01T08:05:00Z"), reader_time("noon")
    ('Sun, Oct 27, 2019, 3:20 PM PDT', 'Sun, Dec 1, 2019, 12:05 AM PST', None)
    """
    local = _pacific(value)
    if local is None:
        return None
    hour = local.hour % 12 or 12
    return (f"{local:%a}, {local:%b} {local.day}, {local.year}, {hour}:{local:%M} "
            f"{'AM' if local.hour < 12 else 'PM'} {local:%Z}")


def _pacific(value) -> datetime | None:
    moment = stored_moment(value)
    return None if moment is None else moment.astimezone(PACIFIC)


def html_escape(value) -> str | None:
    """Text made safe to put in HTML (PG&E's place names and causes); None stays None."""
    return None if value is None else escape(str(value))


def register_sql_functions(conn) -> None:
    """The feed's SQL functions: pacific_time() of a moment, html_escape() of a text."""
    conn.create_function("pacific_time", 1, reader_time, deterministic=True)
    conn.create_function("html_escape", 1, html_escape, deterministic=True)


@hookimpl
def register_magic_parameters(datasette):
    def database(key: str, request):
        # A canned query's path names its database: /<database>/<query>(.atom)
        route = (request.url_vars or {}).get("database")
        if route is None:
            raise KeyError(key)
        db = datasette.get_database(route=tilde_decode(route))
        if key == "name":
            # As its URLs spell it, so that an id built from it is a valid URI.
            return tilde_encode(db.route)
        if key == "url":
            return datasette.absolute_url(request, datasette.urls.database(db.name))
        raise KeyError(key)

    return [("database", database)]


# Called after datasette-atom's hook (trylast), so this renderer of .atom is the one Datasette keeps.
@hookimpl(trylast=True)
def register_output_renderer():
    return {"extension": "atom", "render": render_feed, "can_render": datasette_atom.can_render_atom}


def render_feed(datasette, request, sql, columns, rows, database, table, query_name, view_name, data):
    """datasette-atom's feed; with no rows (which it fails on: max() of nothing) a valid feed of no entries."""
    if rows or not datasette_atom.REQUIRED_COLUMNS <= set(columns):
        return datasette_atom.render_atom(
            datasette, request, sql, columns, rows, database, table, query_name, view_name, data)
    feed = FeedGenerator()
    feed.generator(generator="Datasette", version=datasette_version, uri="https://github.com/simonw/datasette")
    feed.id(request.url)
    feed.link(href=request.url, rel="self")
    # Updated now: nothing in it is older than the moment it was found empty.
    feed.updated(datetime.now(UTC))
    feed.title(_title(datasette, database, query_name) or sql)
    return Response(feed.atom_str(pretty=True), content_type="application/xml; charset=utf-8", status=200)


def _title(datasette, database: str, query_name: str | None) -> str | None:
    if not query_name:
        return None
    query = (datasette.metadata(database=database) or {}).get("queries", {}).get(query_name)
    return query.get("title") if isinstance(query, dict) else None


def content_html(value) -> Markup | None:
    """A feed entry's content on the query's page, as a feed reader shows it (cleaned as datasette-atom does)."""
    return Markup(datasette_atom.clean(value)) if isinstance(value, str) else None
