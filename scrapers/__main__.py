"""Run the scrapers' command line: `python -m scrapers pge --output outages.json`."""

from .cli import cli

cli(prog_name="python -m scrapers")
