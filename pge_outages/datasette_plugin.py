"""A Datasette plugin that keeps the pages of the expanded views fast.

`outage_snapshots` is one row per outage per snapshot (`area_snapshots` one
per area per snapshot): millions of rows, cheap to read by snapshot or by
outage, slow to count or facet whole. Unless a
request filters it by one of those, the plugin asks Datasette not to count or
facet it, so the page shows its first rows at once.
"""

from urllib.parse import parse_qsl

from datasette import hookimpl

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


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def skip_counting(scope, receive, send):
            if scope["type"] == "http" and scope.get("method") == "GET":
                query = scope.get("query_string", b"").decode()
                if needs_nocount(scope["path"], query):
                    extra = "_nocount=1&_nofacet=1"
                    scope = dict(scope, query_string=f"{query}&{extra}".lstrip("&").encode())
            await app(scope, receive, send)

        return skip_counting

    return wrap
