"""The `python -m scrapers` command line: one command per utility, each a thin layer over `base`.

Commands parse options, call the core, and turn its exceptions into one line on
stderr with a documented exit status.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import pge
from .base import FeedError, FetchPolicy, OutputError, Utility
from .gitops import GitError, Identity, find_repo
from .loop import DurationError, format_duration, parse_duration, run_loop
from .rounds import Job, new_session, run_round

UTILITIES = (pge.PGE,)
DEFAULT_AUTHOR_NAME = "pge-outages bot"
DEFAULT_AUTHOR_EMAIL = "actions@users.noreply.github.com"

EXIT_FEED_ERROR = 1
EXIT_GIT_ERROR = 3


class Duration(click.ParamType):
    """A duration such as 10m, 2s or 5h50m, in seconds."""

    name = "duration"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(value)
        except DurationError as exc:
            self.fail(str(exc), param, ctx)


DURATION = Duration()


class GitFailure(click.ClickException):
    """A commit or push failed; exits 3 so schedulers can tell it from a feed failure."""

    exit_code = EXIT_GIT_ERROR


@click.group()
def cli():
    """Scrape utilities' power outage feeds into JSON files, committed to git when they change.

    Example:

    \b
        python -m scrapers pge --output outages.json --areas outage-areas.geojson --commit --push
    """


def make_scrape_command(utility: Utility, name: str | None = None, usage: str | None = None) -> click.Command:
    """A Click command that scrapes utility's feeds, named `name` (default: the utility's, e.g. `pge`);
    `usage` is how its example calls it (default: `python -m scrapers <name>`).

    >>> cli.add_command(make_scrape_command(pge.PGE))  # doctest: +SKIP
    """
    feeds = utility.feeds
    name = name or utility.name
    usage = usage or f"python -m scrapers {name}"

    @click.command(
        name=name,
        help=f"""Fetch {utility.title}'s outage feed and write it to a JSON file.

        The file is only replaced when the feed returned a complete, valid
        snapshot that differs from it. With --commit it is committed to the git
        repository that holds it; with --push that commit is pushed too.

        Every commit ends with trailers saying when the feed was read
        (Fetched-At, and PG&E's own Feed-Updated); when the feed has not
        changed, an empty liveness commit says the scraper looked, at most
        once per --heartbeat window.

        With --every, rounds run on the marks of the clock until --for is over
        or a signal: a round that fails is reported and the loop goes on.

        Exit status: 0 written or unchanged, 1 feed or file error (file left
        unchanged), 2 usage error, 3 git commit or push failed. With --every:
        0 unless rounds failed for --give-up-after in a row (1 hour by
        default) or no round succeeded, then 1 (feed) or 3 (git).

        Example:

        \b
            {usage} --output outages.json --areas outage-areas.geojson --commit --push
            {usage} --output outages.json --commit --push --every 10m --for 5h45m
        """,
    )
    @click.option(
        "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
        help="JSON file to write the snapshot to, e.g. outages.json.",
    )
    @click.option(
        "--areas", type=click.Path(dir_okay=False, path_type=Path),
        help="Also read the outage areas (polygons) and write them to this GeoJSON file, "
        "e.g. outage-areas.geojson, committed with the outages.",
    )
    @click.option(
        "--feed", type=click.Choice(list(feeds)), default=utility.default_feed, show_default=True,
        help="Which of the utility's feed formats to fetch and write.",
    )
    @click.option(
        "--url", envvar=utility.url_envvar, show_envvar=True,
        help="URL to fetch instead of the feed's public one (a mirror, or a test server). For arcgis: "
        "a MapServer root reads every outage layer, a URL ending in /N/query that one layer.",
    )
    @click.option("--commit", is_flag=True, help="Commit the file to its git repository if it changed.")
    @click.option(
        "--push", is_flag=True,
        help="Commit, then push; if another run pushed first, pull --rebase and retry.",
    )
    @click.option(
        "--skip-ci", is_flag=True,
        help="Put a [skip ci] line in commit messages, for CI services that skip such commits.",
    )
    @click.option("--remote", default="origin", show_default=True, help="Git remote to push to.")
    @click.option(
        "--push-attempts", type=click.IntRange(min=1), default=5, show_default=True,
        help="Pushes to try before giving up when the remote keeps moving.",
    )
    @click.option(
        "--author-name", envvar="SCRAPER_AUTHOR_NAME", show_envvar=True,
        default=DEFAULT_AUTHOR_NAME, show_default=True, help="Name to commit as.",
    )
    @click.option(
        "--author-email", envvar="SCRAPER_AUTHOR_EMAIL", show_envvar=True,
        default=DEFAULT_AUTHOR_EMAIL, show_default=True, help="Email to commit as.",
    )
    @click.option(
        "--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
        help="Seconds to wait for each HTTP response.",
    )
    @click.option(
        "--attempts", type=click.IntRange(min=1), default=4, show_default=True,
        help="Tries per fetch when the error may be transient (network, 5xx, bad JSON).",
    )
    @click.option(
        "--backoff", type=click.FloatRange(min=0), default=5.0, show_default=True,
        help="Seconds to wait before the first retry; doubles after each one.",
    )
    @click.option(
        "--deadline", type=click.FloatRange(min=0, min_open=True), default=240.0, show_default=True,
        help="Seconds one fetch may take in all, retries included.",
    )
    @click.option(
        "--recheck-delay", type=click.FloatRange(min=0), default=30.0, show_default=True,
        help="Seconds to wait before fetching again when the feed suddenly reports no outages.",
    )
    @click.option(
        "--every", type=DURATION, default=None,
        help="Loop: run a round on every mark of the clock that is a multiple of this (10m: :00, :10, "
        ":20 ...). A failed round is reported and the loop goes on. Without it, one round.",
    )
    @click.option(
        "--for", "duration", type=DURATION, default=None,
        help="With --every: start no round after this long (e.g. 5h45m); the last round is the last "
        "--heartbeat mark in that time, so its looks are on record. Default: until SIGTERM or SIGINT.",
    )
    @click.option(
        "--heartbeat", type=DURATION, default="30m", show_default=True,
        help="When the feed has not changed, commit an empty liveness mark (with --commit) if the branch "
        "holds no look at the feed since the start of this window of the clock: at most 48 a day at "
        "30m. 0: never.",
    )
    @click.option(
        "--grace", type=DURATION, default="5s", show_default=True,
        help="With --every: on SIGTERM or SIGINT during a round, the time it has to finish; after that "
        "it is undone (branch, index and files as they were). Between rounds a signal stops at once.",
    )
    @click.option(
        "--give-up-after", type=DURATION, default="1h", show_default=True,
        help="With --every: exit non-zero (1 feed, 3 git) once rounds have failed for this long in a "
        "row; shorter failures are reported and the loop goes on. A loop in which no round succeeded "
        "exits non-zero too.",
    )
    def command(
        output, areas, feed, url, commit, push, skip_ci, remote, push_attempts, author_name, author_email,
        timeout, attempts, backoff, deadline, recheck_delay, every, duration, heartbeat, grace, give_up_after,
    ):
        chosen = feeds[feed]
        commit = commit or push
        if areas is not None and chosen.fetch_areas is None:
            raise click.BadParameter(f"the {feed} feed has no outage areas", param_hint="'--areas'")
        if every is None:
            for name, value in (("--for", duration),):
                if value is not None:
                    raise click.BadParameter("needs --every", param_hint=f"'{name}'")
        elif every <= 0:
            raise click.BadParameter("must be more than 0", param_hint="'--every'")
        elif heartbeat and heartbeat % every:
            raise click.BadParameter(
                f"must be a multiple of --every ({format_duration(every)}), or 0", param_hint="'--heartbeat'"
            )
        job = Job(
            chosen, output, areas, url or chosen.default_url,
            FetchPolicy(timeout, attempts, backoff, deadline, recheck_delay),
            Identity(author_name, author_email), commit, push, remote, push_attempts, skip_ci,
            int(heartbeat), int(every) if every else None,
        )
        try:
            if chosen.fetch is pge.fetch_mapserver:
                pge.layer_queries(job.url)
            if areas is not None:
                pge.areas_url(job.url)
        except pge.URLError as exc:
            raise click.BadParameter(str(exc), param_hint="'--url'") from None
        if commit:
            # Fail before fetching, so nothing is written that cannot be committed.
            try:
                repo = find_repo(output)
                if areas is not None and find_repo(areas) != repo:
                    raise GitError(f"{areas} is not in the repository of {output}; they are committed together")
            except GitError as exc:
                raise GitFailure(str(exc)) from None
        session = new_session()
        if every is not None:
            result = run_loop(
                job, lambda mark, since: run_round(job, session, mark, since), every, duration, grace,
                give_up_after, lambda line, err: click.echo(line, err=err),
            )
            click.echo(result.summary, err=result.exit_code != 0)
            sys.exit(result.exit_code)
        # A failed fetch writes nothing: what was there stays, and what was not is not created.
        existed = output.exists()
        try:
            report = run_round(job, session)
        except FeedError as exc:
            raise click.ClickException(f"{exc}; {output} {'left unchanged' if existed else 'not created'}") from None
        except OutputError as exc:
            raise click.ClickException(str(exc)) from None
        except GitError as exc:
            raise GitFailure(str(exc)) from None
        click.echo(report.line)

    return command


for _utility in UTILITIES:
    cli.add_command(make_scrape_command(_utility))

# `pge-outages scrape`: the same command as `python -m scrapers pge`.
pge_scrape = make_scrape_command(pge.PGE, name="scrape", usage="pge-outages scrape")
