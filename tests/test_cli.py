"""The one `pge-outages` command: its subcommands, the older forms that run the same
code, and a scrape that works where Datasette is not installed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support.helpers import ROOT, dump_database
from support.scraper_server import FeedServer, make_repo, serve_feed

PGE_OUTAGES = Path(sys.executable).parent / "pge-outages"
SUBCOMMANDS = ["build", "export", "generate", "refresh", "scrape", "serve"]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*args], cwd=cwd, capture_output=True, text=True, timeout=120)


def options(help_text: str) -> list[str]:
    """The long options a --help lists, in order."""
    return re.findall(r"^\s+(?:-\w, )?(--[\w-]+)", help_text.split("Options:", 1)[1], re.MULTILINE)


def test_the_console_script_lists_its_subcommands():
    assert PGE_OUTAGES.exists(), f"{PGE_OUTAGES} is missing: pip install -e '.[test]'"
    result = run(str(PGE_OUTAGES), "--help")
    assert result.returncode == 0, result.stderr
    listed = re.findall(r"^  (\w+)\s", result.stdout.split("Commands:", 1)[1], re.MULTILINE)
    assert listed == SUBCOMMANDS
    version = run(str(PGE_OUTAGES), "--version")
    assert version.stdout == "pge-outages, version 0.1.0\n"


def test_an_unknown_subcommand_is_a_usage_error():
    result = run(str(PGE_OUTAGES), "bild")
    assert result.returncode == 2
    assert "No such command 'bild'" in result.stderr


@pytest.mark.parametrize(("command", "alias", "usage"), [
    ("build", ["build_database.py"], "build_database.py"),
    ("build", ["-m", "pge_outages", "build"], "python -m pge_outages build"),
    ("scrape", ["-m", "scrapers", "pge"], "python -m scrapers pge"),
    ("refresh", ["-m", "pge_outages", "refresh"], "python -m pge_outages refresh"),
    ("generate", ["-m", "pge_outages.synthetic"], "python -m pge_outages.synthetic"),
])
def test_the_older_forms_are_the_same_commands(command, alias, usage):
    ours = run(str(PGE_OUTAGES), command, "--help")
    theirs = run(sys.executable, *alias, "--help")
    assert ours.returncode == theirs.returncode == 0, ours.stderr + theirs.stderr
    assert options(ours.stdout) == options(theirs.stdout)
    assert len(options(ours.stdout)) >= 2
    # Each names itself in its usage line as it was called.
    assert ours.stdout.startswith(f"Usage: pge-outages {command} [OPTIONS]")
    assert theirs.stdout.startswith(f"Usage: {usage} [OPTIONS]")


def test_generate_then_build_gives_the_database_build_database_py_gives(tmp_path):
    generated = run(str(PGE_OUTAGES), "generate", str(tmp_path / "history"), "--commits", "30", "--seed", "4")
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout == (f"30 commits of outages.json and outage-areas.geojson written to "
                                f"{tmp_path / 'history'}\n")
    built = run(str(PGE_OUTAGES), "build", str(tmp_path / "history"), str(tmp_path / "one.db"), "--silent")
    assert built.returncode == 0, built.stderr
    # Commits that change neither file are no snapshot.
    read = re.match(r"(\d+) commits read, (\d+) snapshots added, 0 versions skipped", built.stdout)
    assert read is not None and 20 <= int(read[1]) == int(read[2]) <= 30, built.stdout
    alias = run(sys.executable, "build_database.py", str(tmp_path / "history"), str(tmp_path / "two.db"))
    assert alias.returncode == 0, alias.stderr
    assert dump_database(tmp_path / "one.db") == dump_database(tmp_path / "two.db")


def test_building_loads_neither_the_scraper_nor_datasette():
    # The scrape command is imported only when asked for: requests and shapely
    # would cost every build a tenth of a second.
    code = textwrap.dedent("""
        import sys
        from pge_outages.cli import cli
        try:
            cli(["build", "--help"])
        except SystemExit:
            pass
        print(sorted(m for m in ("requests", "shapely", "scrapers", "datasette") if m in sys.modules))
    """)
    result = run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


# A scrape-only install (`pip install .`) has no Datasette: this finder makes
# any import of datasette or a datasette-* plugin fail as it would there.
WITHOUT_DATASETTE = textwrap.dedent("""
    import sys

    class NoDatasette:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0].startswith("datasette"):
                raise ModuleNotFoundError(f"No module named {name!r}")

    sys.meta_path.insert(0, NoDatasette())
    from pge_outages.cli import cli
    try:
        cli(sys.argv[1:], prog_name="pge-outages")
    finally:
        loaded = sorted(m for m in sys.modules if m.startswith("datasette"))
        print("datasette modules loaded:", loaded, file=sys.stderr)
""")

SQUARE = [[[-122.71, 38.46], [-122.71, 38.47], [-122.70, 38.47], [-122.70, 38.46], [-122.71, 38.46]]]


def test_scrape_commit_and_build_run_without_datasette(tmp_path):
    repo = make_repo(tmp_path / "repo")
    layer_5 = FeedServer().features
    area = {"attributes": {"OUTAGE_ID": 2419575}, "geometry": {"rings": SQUARE}}
    feed = FeedServer(layers={5: layer_5, 8: [area]}, layer_references={8: {"wkid": 4326}})
    script = tmp_path / "no_datasette.py"
    script.write_text(WITHOUT_DATASETTE)
    with serve_feed(feed) as served:
        scraped = run(sys.executable, str(script), "scrape", "--output", str(repo / "outages.json"),
                      "--areas", str(repo / "outage-areas.geojson"), "--url", served.root_url, "--commit",
                      "--attempts", "1", "--timeout", "5")
    assert scraped.returncode == 0, scraped.stderr
    assert "datasette modules loaded: []" in scraped.stderr
    assert "outages.json: 6 outages" in scraped.stdout and "1 area, written" in scraped.stdout
    records = json.loads((repo / "outages.json").read_bytes())
    assert [r["layers"] for r in records] == [[5]] * 6

    built = run(sys.executable, str(script), "build", str(repo), str(tmp_path / "outages.db"), "--silent")
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith("1 commits read, 1 snapshots added")
    assert "datasette modules loaded: []" in built.stderr


def test_without_datasette_the_blocker_really_blocks(tmp_path):
    # The check above means something only if the finder stops a real import.
    script = tmp_path / "no_datasette.py"
    script.write_text(WITHOUT_DATASETTE.replace("from pge_outages.cli import cli", "import datasette"))
    result = run(sys.executable, str(script))
    assert result.returncode == 1
    assert "ModuleNotFoundError: No module named 'datasette'" in result.stderr
