"""Scrapers that fetch a utility's outage feed and commit it to a git repository."""
