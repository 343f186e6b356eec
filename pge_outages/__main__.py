"""`python -m pge_outages build|scrape|refresh|generate`: the `pge-outages` command."""

from .cli import cli

cli(prog_name="python -m pge_outages")
