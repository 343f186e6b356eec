"""Which of the databases Datasette serves this tool built, and the metadata each of them gets.

metadata.yml describes one database, under the name `outages`. A database built by this tool may
be served under any file name (`real.db` is the database `real`), and several at once: each of
them gets that description, its canned queries and its hidden tables under its own name, with the
links of its descriptions pointing at itself. The plugin's `get_metadata` hook gives this, so a
server needs no `--metadata` (one given still takes precedence, as Datasette's own file does).

A database is this tool's when its `_meta` table records a `schema_version`.
"""

import re
import sqlite3
from functools import cache, lru_cache
from pathlib import Path

import orjson
import yaml

METADATA_FILE = Path(__file__).parent.parent / "metadata.yml"
# The name metadata.yml gives the database it describes.
DESCRIBED = "outages"
# Links in the descriptions that name that database, or the pages of the plugin that read one.
_DATABASE_LINK = re.compile(r'href="/outages(?=[/"#?])')
_PAGE_LINK = re.compile(r'href="/-/(replay|counties|events|reliability)(?=[/"#?.])')


# Lookups that read a database's tables or queries (Datasette's table_metadata() asks for "databases").
_WHOLE_KEYS = (None, "tables", "queries", "databases")


@cache
def packaged_metadata() -> dict:
    return yaml.safe_load(METADATA_FILE.read_text())


# Files found to be ours stay ours (a build never makes a database foreign), so a file is opened
# once, not each time the databases served change.
_OURS: set[str] = set()


def built_by_us(path: str | None, immutable: bool = False) -> bool:
    """Whether the SQLite file at `path` is a database this tool built (False for memory, or unreadable).

    An immutable file is opened as Datasette opens it, writing nothing beside it (no -shm file)."""
    if not path:
        return False
    if path in _OURS:
        return True
    try:
        stat = Path(path).stat()
    except OSError:
        return False
    if _built_by_us(path, stat.st_mtime_ns, stat.st_size, immutable):
        _OURS.add(path)
        return True
    return False


@cache
def _built_by_us(path: str, mtime_ns: int, size: int, immutable: bool) -> bool:
    # The file's time and size are part of the key: a database being built for the first time
    # becomes ours once its first build commits.
    try:
        mode = "immutable=1" if immutable else "mode=ro"
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?{mode}", uri=True)
    except sqlite3.Error:
        return False
    try:
        return conn.execute("select 1 from _meta where key = 'schema_version'").fetchone() is not None
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def our_databases(datasette) -> list[str]:
    """The names of the served databases this tool built, `outages` first when it is one of them."""
    names = [name for name, db in datasette.databases.items() if built_by_us(db.path, not db.is_mutable)]
    return sorted(names, key=lambda name: name != DESCRIBED)


def metadata_for(datasette, key: str | None = None, database: str | None = None, table: str | None = None) -> dict:
    """metadata.yml's, with its database's block under each of our databases' names (none: {}).

    Only what the lookup (Datasette's metadata(key, database, table)) can reach: plugins look up
    their configuration for every cell of a page, and need no canned query or table. A fresh copy
    each time, since Datasette merges metadata into what the hook returns.
    """
    parts = _parts_for(datasette)
    if parts is None:
        return {}
    if key not in _WHOLE_KEYS:
        # A lookup of one key (a plugin's configuration, a permission): that key alone.
        return orjson.loads(parts.key_of(key, database, table))
    metadata = orjson.loads(parts.top)
    if database is None:
        chosen = dict(parts.whole)
    elif database not in parts.whole:
        chosen = {}
    elif table is not None:
        chosen = {database: parts.table_of(database, table)}
    else:
        chosen = {database: parts.whole[database]}
    metadata["databases"] = {name: orjson.loads(block) for name, block in chosen.items()}
    return metadata


class _Parts:
    """metadata.yml for some databases, cut into the pieces lookups need, each as JSON."""

    __slots__ = ("top", "whole", "_blocks")

    def __init__(self, names: tuple[str, ...], prefixes: tuple[str, ...]):
        metadata = dict(packaged_metadata())
        block = metadata.pop("databases", {}).get(DESCRIBED, {})
        # The home page's description points at the first of them.
        self.top = orjson.dumps(_pointed_at(metadata, prefixes[0]))
        self._blocks = {name: _pointed_at(block, prefix) for name, prefix in zip(names, prefixes, strict=True)}
        self.whole = {name: orjson.dumps(block) for name, block in self._blocks.items()}

    @lru_cache(maxsize=256)  # noqa: B019 (one _Parts per Datasette and set of databases)
    def key_of(self, key: str, database: str | None, table: str | None) -> bytes:
        top = orjson.loads(self.top)
        found: dict = {key: top[key]} if key in top else {}
        block = self._blocks.get(database) if database is not None else None
        if block is not None:
            mine = {key: block[key]} if key in block else {}
            table_block = (block.get("tables") or {}).get(table) if table is not None else None
            if table_block is not None and key in table_block:
                mine["tables"] = {table: {key: table_block[key]}}
            found["databases"] = {database: mine}
        return orjson.dumps(found)

    @lru_cache(maxsize=1024)  # noqa: B019
    def table_of(self, database: str, table: str) -> bytes:
        block = self._blocks[database]
        tables = block.get("tables") or {}
        return orjson.dumps({**_slim(block), "tables": {table: tables[table]} if table in tables else {}})


def _slim(block: dict) -> dict:
    return {key: value for key, value in block.items() if key not in ("tables", "queries")}


def _parts_for(datasette) -> "_Parts | None":
    served = tuple(datasette.databases)
    known = getattr(datasette, "_pge_outages_parts", None)
    if known is not None and known[0] == served and known[1] is not None:
        return known[1]
    names = tuple(our_databases(datasette))
    parts = _Parts(names, tuple(datasette.urls.database(name) for name in names)) if names else None
    # Kept on the Datasette object until the databases served change; none of ours yet is asked again.
    datasette._pge_outages_parts = (served, parts)
    return parts


def _pointed_at(value, prefix: str):
    """`value` with its links to the described database and its pages pointing at the one at `prefix`."""
    if isinstance(value, str):
        value = _DATABASE_LINK.sub(f'href="{prefix}', value)
        return _PAGE_LINK.sub(lambda match: f'href="{prefix}/-/{match[1]}', value)
    if isinstance(value, dict):
        return {key: _pointed_at(item, prefix) for key, item in value.items()}
    if isinstance(value, list):
        return [_pointed_at(item, prefix) for item in value]
    return value
