"""Turn a git-scraped history of PG&E's outage feed into a SQLite database."""
