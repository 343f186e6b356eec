"""Every way a build can be refused: a clear message, exit status 1, the database untouched."""

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pge_outages.cli import build as build_command
from support.helpers import ROOT, commit_versions, fixture_versions, git, make_repo


def run_cli(*args):
    return CliRunner().invoke(build_command, [str(a) for a in args], catch_exceptions=False)


def assert_refused(result, message):
    assert result.exit_code == 1
    assert result.output == f"Error: {message}\n"


def test_repo_missing(tmp_path):
    missing = tmp_path / "nowhere"
    result = run_cli(missing, tmp_path / "out.db")
    assert_refused(result, f"{missing}: no such directory")
    assert not (tmp_path / "out.db").exists()


def test_not_a_git_repository(tmp_path):
    (tmp_path / "plain").mkdir()
    result = run_cli(tmp_path / "plain", tmp_path / "out.db")
    assert_refused(result, f"{tmp_path / 'plain'}: not a git repository")
    assert not (tmp_path / "out.db").exists()


def test_empty_repository(tmp_path):
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    result = run_cli(repo, tmp_path / "out.db")
    assert result.exit_code == 1
    assert result.output.endswith(": the repository has no commits\n")


def test_file_never_in_history(legacy_repo, tmp_path):
    result = run_cli(legacy_repo, tmp_path / "out.db", "--file", "nope.json")
    tip = git(legacy_repo, "rev-parse", "HEAD")
    assert_refused(result, f"nope.json is not in the history of {tip[:12]}")
    assert not (tmp_path / "out.db").exists()


def test_no_default_file(tmp_path):
    repo = make_repo(tmp_path / "repo", fixture_versions("arcgis"), "other.json")
    tip = git(repo, "rev-parse", "HEAD")
    result = run_cli(repo, tmp_path / "out.db")
    assert_refused(
        result,
        f"neither outages.json or pge-outages.json is in the history of {tip[:12]}; name the file with --file",
    )


def test_unknown_branch(legacy_repo, tmp_path):
    result = run_cli(legacy_repo, tmp_path / "out.db", "--branch", "nope")
    assert_refused(result, "branch or commit 'nope' not found in the repository")


def test_database_not_sqlite(legacy_repo, tmp_path):
    db = tmp_path / "out.db"
    db.write_text("these are my notes\n")
    result = run_cli(legacy_repo, db)
    assert_refused(result, f"{db} is not a SQLite database")
    assert db.read_text() == "these are my notes\n"


def test_database_from_another_tool(legacy_repo, tmp_path):
    db = tmp_path / "out.db"
    conn = sqlite3.connect(db)
    conn.execute("create table notes (body text)")
    conn.execute("insert into notes values ('keep me')")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    for args in ((), ("--rebuild",)):
        result = run_cli(legacy_repo, db, *args)
        assert_refused(
            result,
            f"{db} is a SQLite database that this tool did not build (it has tables notes); give a new file",
        )
    assert db.read_bytes() == before


def test_database_from_another_file(tmp_path):
    repo = make_repo(tmp_path / "repo", fixture_versions("arcgis"), "outages.json")
    commit_versions(repo, fixture_versions("legacy"), "pge-outages.json")
    db = tmp_path / "out.db"
    assert run_cli(repo, db, "--file", "outages.json").exit_code == 0
    before = db.read_bytes()
    result = run_cli(repo, db, "--file", "pge-outages.json")
    assert_refused(
        result,
        f"{db} was built from 'outages.json', not 'pge-outages.json'; "
        "use --rebuild to start over, or another database file",
    )
    assert db.read_bytes() == before


def test_database_from_another_repository(tmp_path):
    versions = fixture_versions("arcgis")
    one = make_repo(tmp_path / "one", versions)
    other = make_repo(tmp_path / "other", versions[1:])
    db = tmp_path / "out.db"
    run_cli(one, db)
    first = git(one, "rev-list", "--max-parents=0", "HEAD")
    before = db.read_bytes()
    result = run_cli(other, db)
    assert_refused(
        result,
        f"{db} was built from a different repository (its first commit {first[:12]} is not in this one); "
        "use --rebuild to start over, or another database file",
    )
    assert db.read_bytes() == before


def test_shallow_clone_that_lacks_the_last_commit_built(tmp_path):
    versions = fixture_versions("arcgis")
    repo = make_repo(tmp_path / "repo", versions * 2)
    db = tmp_path / "out.db"
    run_cli(repo, db)
    last = git(repo, "rev-parse", "HEAD")
    commit_versions(repo, versions * 2)
    # The six new commits, not the one the database was built up to.
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "6", repo.as_uri(), str(shallow))
    before = db.read_bytes()
    result = run_cli(shallow, db)
    assert_refused(
        result,
        f"{db} was built up to commit {last[:12]}, which this shallow clone lacks; "
        "fetch the history back to it (git fetch --deepen=N, or --unshallow) and run again",
    )
    assert db.read_bytes() == before


def test_rewritten_history(tmp_path):
    versions = fixture_versions("legacy")
    repo = make_repo(tmp_path / "repo", versions, "pge-outages.json")
    db = tmp_path / "out.db"
    run_cli(repo, db)
    last = git(repo, "rev-parse", "HEAD")
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    commit_versions(repo, [versions[0]], "pge-outages.json", start=1572200000)
    tip = git(repo, "rev-parse", "HEAD")
    before = db.read_bytes()
    result = run_cli(repo, db)
    assert_refused(
        result,
        f"the history was rewritten: {db} was built up to commit {last[:12]}, "
        f"which is no longer in the history of {tip[:12]}; use --rebuild to start over",
    )
    assert db.read_bytes() == before
    rebuilt = run_cli(repo, db, "--rebuild")
    assert rebuilt.exit_code == 0
    assert rebuilt.output.startswith("3 commits read, 3 snapshots added")
    conn = sqlite3.connect(db)
    assert conn.execute("select hash from snapshots where id = 3").fetchone()[0] == tip


@pytest.mark.parametrize("option", ["--file", "--branch"])
def test_help_names_every_option(option):
    result = CliRunner().invoke(build_command, ["--help"])
    assert result.exit_code == 0
    assert option in result.output


def test_a_new_database_from_a_shallow_clone_is_refused(tmp_path):
    from pge_outages.build import build_database
    from pge_outages.history import HistoryError

    repo = make_repo(tmp_path / "repo", fixture_versions("arcgis"))
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow)], check=True)
    db = tmp_path / "out.db"
    with pytest.raises(HistoryError, match=r"is a shallow clone: a database built from it would miss every "
                                           r"commit before the clone's depth; fetch the whole history first"):
        build_database(shallow, db)
    # Nothing was written, and the same clone made whole builds.
    assert not db.exists() or db.stat().st_size == 0
    subprocess.run(["git", "-C", str(shallow), "fetch", "-q", "--unshallow"], check=True)
    assert build_database(shallow, db).snapshots_added == len(fixture_versions("arcgis"))


# Bad paths, as the installed command and the older script meet them: one line naming the path, exit 1.
PGE_OUTAGES = Path(sys.executable).parent / "pge-outages"
BAD_PATHS = {
    "database directory missing": (lambda t: (t["repo"], t["tmp"] / "missing-dir" / "out.db"),
                                   "{tmp}/missing-dir: no such directory, for the database "
                                   "{tmp}/missing-dir/out.db; create it first"),
    "database is a directory": (lambda t: (t["repo"], t["tmp"] / "somewhere"),
                                "{tmp}/somewhere is a directory, not a database file"),
    "repository missing": (lambda t: (t["tmp"] / "nowhere", t["tmp"] / "out.db"), "{tmp}/nowhere: no such directory"),
    "repository is a file": (lambda t: (t["repo"] / "outages.json", t["tmp"] / "out.db"),
                             "{tmp}/repo/outages.json: a file, not a directory; give the repository the file is in"),
}


@pytest.mark.slow
@pytest.mark.parametrize("command", ["pge-outages", "build_database.py"])
@pytest.mark.parametrize("case", list(BAD_PATHS))
def test_a_bad_path_is_one_line_naming_it(tmp_path, command, case):
    repo = make_repo(tmp_path / "repo", fixture_versions("arcgis"))
    (tmp_path / "somewhere").mkdir()
    arguments, message = BAD_PATHS[case]
    argv = [str(PGE_OUTAGES), "build"] if command == "pge-outages" else [sys.executable, str(ROOT / command)]
    before = sorted(p.name for p in tmp_path.iterdir())
    result = subprocess.run([*argv, *map(str, arguments({"repo": repo, "tmp": tmp_path}))],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"Error: {message.format(tmp=tmp_path)}\n"
    # Nothing was created: no database, no lock file, no directory.
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert sorted(p.name for p in (tmp_path / "somewhere").iterdir()) == []
