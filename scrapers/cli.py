"""The `python -m scrapers` command line: one command per utility, each a thin layer over `base`.

Commands parse options, call the core, and turn its exceptions into one line on
stderr with a documented exit status.
"""

from __future__ import annotations

from pathlib import Path

import click
import requests

from . import pge
from .base import (
    USER_AGENT,
    FeedError,
    FetchPolicy,
    OutputError,
    Utility,
    scrape_to_file,
)
from .commits import commit_snapshot, customers, push_snapshot
from .gitops import GitError, Identity, find_repo

UTILITIES = (pge.PGE,)
DEFAULT_AUTHOR_NAME = "pge-outages bot"
DEFAULT_AUTHOR_EMAIL = "actions@users.noreply.github.com"

EXIT_FEED_ERROR = 1
EXIT_GIT_ERROR = 3


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

    Example: cli.add_command(make_scrape_command(pge.PGE))
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

        Exit status: 0 written or unchanged, 1 feed or file error (file left
        unchanged), 2 usage error, 3 git commit or push failed.

        Example:

        \b
            {usage} --output outages.json --areas outage-areas.geojson --commit --push
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
        "--push-attempts", type=click.IntRange(min=1), default=3, show_default=True,
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
    def command(
        output, areas, feed, url, commit, push, skip_ci, remote, push_attempts, author_name, author_email,
        timeout, attempts, backoff, deadline, recheck_delay,
    ):
        chosen = feeds[feed]
        policy = FetchPolicy(timeout, attempts, backoff, deadline, recheck_delay)
        identity = Identity(author_name, author_email)
        commit = commit or push
        if areas is not None and chosen.fetch_areas is None:
            raise click.BadParameter(f"the {feed} feed has no outage areas", param_hint="'--areas'")
        if commit:
            # Fail before fetching, so nothing is written that cannot be committed.
            try:
                repo = find_repo(output)
                if areas is not None and find_repo(areas) != repo:
                    raise GitError(f"{areas} is not in the repository of {output}; they are committed together")
            except GitError as exc:
                raise GitFailure(str(exc)) from None
        session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
        try:
            result = scrape_to_file(
                chosen, output, url or chosen.default_url, session, policy, areas_output=areas
            )
        except FeedError as exc:
            raise click.ClickException(f"{exc}; {output} left unchanged") from None
        except OutputError as exc:
            raise click.ClickException(str(exc)) from None
        except pge.URLError as exc:
            raise click.BadParameter(str(exc), param_hint="'--url'") from None
        total = sum(customers(chosen, record) for record in result.records)
        count = len(result.records)
        parts = [
            f"{output}: {count:,} outage{'' if count == 1 else 's'}, "
            f"{total:,} customer{'' if total == 1 else 's'} affected",
            "written" if result.written else "unchanged",
        ]
        if areas is not None:
            count_areas = len(result.areas or {})
            parts.append(
                f"{areas}: {count_areas:,} area{'' if count_areas == 1 else 's'}, "
                + ("written" if result.areas_written else "unchanged")
            )
        if result.rechecked:
            parts.append(
                "refetched after an empty answer" if count else "empty feed confirmed by a second fetch"
            )
        if commit:
            try:
                sha = commit_snapshot(chosen, output, result.records, identity, skip_ci, areas)
                parts.append(f"committed {sha[:12]}" if sha else "nothing to commit")
                if push:
                    pushed = push_snapshot(
                        chosen, output, result.records, identity, remote, push_attempts,
                        committed=sha is not None, skip_ci=skip_ci, areas_output=areas,
                        areas_data=areas.read_bytes() if areas is not None else None,
                    )
                    parts.append(f"pushed {pushed[:12]} to {remote}")
            except GitError as exc:
                raise GitFailure(str(exc)) from None
        click.echo("; ".join(parts))

    return command


for _utility in UTILITIES:
    cli.add_command(make_scrape_command(_utility))

# `pge-outages scrape`: the same command as `python -m scrapers pge`.
pge_scrape = make_scrape_command(pge.PGE, name="scrape", usage="pge-outages scrape")
