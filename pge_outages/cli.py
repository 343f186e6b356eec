"""The `pge-outages` command: build, scrape, refresh, serve and generate.

Commands parse options, call the library, and turn its exceptions into one
line on stderr. `build_database.py`, `python -m scrapers pge` and the
`python -m pge_outages` forms run these same commands.
"""

import importlib
import signal
import sqlite3
import sys
import threading
from pathlib import Path

import click

from . import serving, synthetic
from .build import DEFAULT_WAIT, HistoryRewritten, build_database
from .export import ExportError, history_span, write_eaglei
from .history import HistoryError
from .lock import DatabaseBusy
from .refresh import parse_duration, refresh_loop
from .schema import DatabaseError
from .trailers import parse_time

DEFAULT_EVERY = "10m"


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        try:
            return parse_duration(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


class _Group(click.Group):
    """A group whose `scrape` command is imported only when asked for: the scraper
    loads requests and shapely, which a build would pay for on every run."""

    lazy = {"scrape": "scrapers.cli:pge_scrape"}

    def list_commands(self, ctx):
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx, name):
        if name in self.lazy:
            module, _, attribute = self.lazy[name].partition(":")
            return getattr(importlib.import_module(module), attribute)
        return super().get_command(ctx, name)


@click.group(cls=_Group)
@click.version_option(package_name="pge-outages")
def cli():
    """Record PG&E power outages by git scraping, and build a SQLite database of them for Datasette.

    \b
        pge-outages scrape --output outages.json --areas outage-areas.geojson --commit --push
        pge-outages build pge-outages/ outages.db
        pge-outages refresh pge-outages/ outages.db --every 10m
    """


@cli.command()
# The paths are checked by the build, which names what is wrong in one line (exit 1).
@click.argument("repo", type=click.Path(path_type=str))
@click.argument("db", type=click.Path(path_type=str))
@click.option("--file", "file", metavar="PATH",
              help="Path of the outage file in the repository "
                   "(default: outages.json or pge-outages.json, whichever the history holds).")
@click.option("--areas-file", metavar="PATH",
              help="Path of the outage areas file "
                   "(default: outage-areas.geojson beside the outage file, if the history holds it).")
@click.option("--branch", metavar="REF", help="Branch or commit to read (default: the repository's HEAD).")
@click.option("--rebuild", is_flag=True, help="Drop what the database holds and build it again from the first commit.")
@click.option("--silent", is_flag=True, help="Show no progress bar.")
@click.option("--wait", type=click.FloatRange(min=0), default=DEFAULT_WAIT, show_default=True,
              help="Seconds to wait for another build of the same database to finish (0: give up at once).")
def build(repo, db, file, areas_file, branch, rebuild, silent, wait):
    """Build or update a SQLite database from the git history of an outage feed file.

    Reruns add only the commits that are new since the last run.

    Example:

        pge-outages build pge-outages/ outages.db
    """
    show_progress = not silent and sys.stderr.isatty()
    bar = None

    def on_start(total):
        nonlocal bar
        if show_progress and total:
            bar = click.progressbar(length=total, label="Reading commits", file=sys.stderr)
            bar.__enter__()

    def on_commit():
        if bar is not None:
            bar.update(1)

    try:
        result = build_database(repo, db, file=file, branch=branch, rebuild=rebuild,
                                on_start=on_start, on_commit=on_commit, wait=wait, areas_file=areas_file)
    except (HistoryError, DatabaseError, HistoryRewritten) as error:
        raise click.ClickException(str(error)) from error
    except DatabaseBusy as error:
        raise click.ClickException(f"{error}; {db} left as it is, run again when that build is done") from error
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    click.echo(result.summary())


@cli.command()
@click.argument("repo", type=click.Path(exists=True, file_okay=False, path_type=str))
@click.argument("db", type=click.Path(dir_okay=False, path_type=str))
@click.option("--every", type=Duration(), metavar="DURATION",
              help=f"Time from the start of one run to the next, such as 30s, 10m or 1h (default: {DEFAULT_EVERY}).")
@click.option("--once", is_flag=True,
              help="Run once and exit, with status 1 if the run failed (for a systemd timer or cron).")
@click.option("--remote", metavar="NAME", help="Remote to pull from (default: the upstream of the checked-out branch).")
@click.option("--branch", metavar="BRANCH",
              help="Branch of the remote to pull (default: the upstream of the checked-out branch).")
@click.option("--file", "file", metavar="PATH",
              help="Path of the outage file in the repository "
                   "(default: outages.json or pge-outages.json, whichever the history holds).")
def refresh(repo, db, every, once, remote, branch, file):
    """Keep a served database fresh: pull REPO and add its new commits to DB, again and again.

    Each run does `git pull --ff-only` in REPO, a clone of the data repository,
    then adds the new commits to DB, and prints one line. A run that fails
    (network down, history rewritten) changes nothing, says so, and the next
    run tries again; Datasette keeps serving the last good snapshot.

    Example:

        pge-outages refresh history/ outages.db --every 10m
    """
    if once and every is not None:
        raise click.UsageError("give --every or --once, not both")
    stop = threading.Event()
    # systemd stops a service with SIGTERM: finish the run under way, then exit.
    signals = () if once else (signal.SIGTERM, signal.SIGINT)
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in signals}
    try:
        failures = refresh_loop(
            repo, db, every or parse_duration(DEFAULT_EVERY), remote=remote, branch=branch,
            file=file, echo=click.echo, sleep=stop.wait, stop=stop, iterations=1 if once else None,
        )
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if once and failures:
        sys.exit(1)


@cli.group()
def export():
    """Write a built database in another dataset's layout."""


@export.command()
@click.argument("db", type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.argument("out", type=click.File("w", lazy=True))
@click.option("--from", "start", metavar="TIME",
              help="First moment, ISO 8601 (UTC without an offset); default: the first snapshot.")
@click.option("--to", "end", metavar="TIME",
              help="Moment to stop before, ISO 8601; default: just after the last snapshot.")
def eaglei(db, out, start, end):
    """Customers out per county every 15 minutes, in EAGLE-I's layout.

    The columns are fips_code, county, state, customers_out and run_start_time (UTC): one row
    per county with customers out, per step. Time the scraper was blind to is left out, not
    filled. OUT may be - for stdout.

    Example:

        pge-outages export eaglei outages.db outages-eaglei.csv --from 2025-12-20 --to 2025-12-27
    """
    conn = sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True)
    try:
        first, last = history_span(conn)
        begin = _moment(start, "--from") if start else first
        stop = _moment(end, "--to") if end else last + 1
        if stop <= begin:
            raise click.ClickException(
                f"--to ({end or 'the last snapshot'}) is not after --from ({start or 'the first snapshot'})")
        rows = write_eaglei(conn, out, begin, stop)
    except (ExportError, sqlite3.Error) as error:
        raise click.ClickException(f"{db}: {error}") from None
    finally:
        conn.close()
    click.echo(f"{rows:,} rows of customers out per county written to {out.name}", err=True)


def _moment(text: str, option: str) -> int:
    moment = parse_time(text)
    if moment is None:
        raise click.BadParameter(f"{text!r} is not a time such as 2025-12-25T15:00-08:00", param_hint=option)
    return moment


@cli.command()
@click.argument("databases", metavar="DB...", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--host", default=serving.DEFAULT_HOST, show_default=True,
              help="Address to listen on (0.0.0.0: every interface, for other machines).")
@click.option("--port", type=click.IntRange(0, 65535), default=serving.DEFAULT_PORT, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--immutable", is_flag=True,
              help="The files never change (a container's copy). Without it they are served read-only "
                   "as a refresh adds to them.")
@click.option("--allow-download", is_flag=True,
              help="Let visitors download the database files (Datasette offers that only with --immutable).")
@click.option("--inspect-file", metavar="PATH", type=click.Path(exists=True, dir_okay=False, path_type=str),
              help="Table counts made by `datasette inspect`, to read instead of counting (with --immutable).")
def serve(databases, host, port, immutable, allow_download, inspect_file):
    """Serve databases this tool built with Datasette, its pages and the project's settings.

    Each query has a time limit and a row limit, so no visitor can tie up the
    server. Needs the serve extra: pip install 'pge-outages[serve]'.
    deploy/serve.sh runs this command.

    Example:

        pge-outages serve outages.db --port 8001
    """
    try:
        from datasette.cli import serve as datasette_serve
    except ImportError:
        raise click.ClickException("serving needs Datasette: pip install 'pge-outages[serve]'") from None
    try:
        serving.check_databases(databases)
        serving.check_port(host, port)
    except serving.ServeError as error:
        raise click.ClickException(str(error)) from None
    arguments = serving.datasette_arguments(databases, host, port, immutable, allow_download, inspect_file)
    datasette_serve.main(args=arguments, prog_name="datasette serve", standalone_mode=False)


# Defined beside the generator, which `python -m pge_outages.synthetic` runs too.
cli.add_command(synthetic.generate)
