"""The project's commands: `python -m pge_outages refresh REPO DB --every 10m`."""

import signal
import sys
import threading

import click

from .refresh import parse_duration, refresh_loop

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


@click.group()
def cli():
    """Record PG&E power outages by git scraping and serve them with Datasette."""


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

        python -m pge_outages refresh history/ outages.db --every 10m
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


if __name__ == "__main__":
    cli(prog_name="python -m pge_outages")
