"""The command line: parse options, call the library, report."""

import sys

import click

from .build import DEFAULT_WAIT, HistoryRewritten, build_database
from .history import HistoryError
from .lock import DatabaseBusy
from .schema import DatabaseError


@click.command()
@click.argument("repo", type=click.Path(file_okay=False, path_type=str))
@click.argument("db", type=click.Path(dir_okay=False, path_type=str))
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

        python build_database.py pge-outages/ outages.db
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


cli = build
