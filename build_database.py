"""Build or update a SQLite database from the git history of PG&E's outage feed.

    python build_database.py REPO DB [--file PATH] [--areas-file PATH] [--branch REF] [--rebuild] [--silent]
"""

from pge_outages.cli import build

if __name__ == "__main__":
    build(prog_name="build_database.py")
