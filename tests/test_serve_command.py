"""`pge-outages serve`: one command to serve built databases, the same as deploy/serve.sh.

Every server here is a real process of the installed command (or of `make demo`) on a free
port of 127.0.0.1, asked over HTTP what it serves.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import pytest
import yaml

from pge_outages import serving
from pge_outages.build import build_database
from pge_outages.synthetic import generate_history
from support.helpers import ROOT
from support.servers import free_port, running
from test_cli import WITHOUT_DATASETTE

pytestmark = pytest.mark.slow

PGE_OUTAGES = Path(sys.executable).parent / "pge-outages"
SERVE_SH = ROOT / "deploy" / "serve.sh"
METADATA = yaml.safe_load((ROOT / "metadata.yml").read_text())


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd)


def serve_command(*args: str, port: int) -> tuple[list[str], str]:
    return [str(PGE_OUTAGES), "serve", *args, "--port", str(port)], f"http://127.0.0.1:{port}"


def serve_sh_environment(port: int, **env: str) -> dict[str, str]:
    return {**os.environ, "DATASETTE": f"{sys.executable} -m datasette", "HOST": "127.0.0.1", "PORT": str(port),
            **env}


@pytest.fixture(scope="module")
def databases(tmp_path_factory) -> dict[str, Path]:
    """Two databases this tool built, from two histories."""
    base = tmp_path_factory.mktemp("serve")
    built = {}
    for name, era, seed in (("outages", "arcgis", 3), ("legacy", "legacy", 5)):
        repo = generate_history(base / f"{name}-history", commits=40, era=era, seed=seed)
        built[name] = base / f"{name}.db"
        build_database(repo, built[name])
    return built


def served(url: str) -> dict:
    """What a server says about itself."""
    return {
        "settings": httpx.get(f"{url}/-/settings.json").json(),
        "metadata": httpx.get(f"{url}/-/metadata.json").json(),
        "databases": [(d["name"], d["is_mutable"]) for d in httpx.get(f"{url}/-/databases.json").json()],
        "plugins": sorted(p["name"] for p in httpx.get(f"{url}/-/plugins.json").json()),
    }


def test_serve_uses_the_projects_settings_and_metadata(databases):
    command, url = serve_command(str(databases["outages"]), port=free_port())
    with running(command, url):
        answer = served(url)
        assert httpx.get(f"{url}/outages/customers_over_time").status_code == 200
    settings = answer["settings"]
    assert {name: settings[name] for name in serving.SETTINGS} == {
        "sql_time_limit_ms": 3000, "max_returned_rows": 1000, "suggest_facets": False}
    assert settings["allow_download"] is False
    assert answer["metadata"]["databases"]["outages"]["queries"].keys() == METADATA["databases"]["outages"][
        "queries"].keys()
    assert answer["databases"] == [("outages", True)]
    assert "pge-outages" in answer["plugins"]


def test_serve_and_serve_sh_serve_alike(databases):
    command, url = serve_command(str(databases["outages"]), port=free_port())
    with running(command, url):
        ours = served(url)
    port = free_port()
    with running([str(SERVE_SH), str(databases["outages"])], f"http://127.0.0.1:{port}",
                 serve_sh_environment(port)) as url:
        theirs = served(url)
    assert ours == theirs


@pytest.mark.parametrize("options, environment", [
    ([], {}),
    (["--immutable"], {"IMMUTABLE": "1"}),
    (["--immutable", "--allow-download"], {"IMMUTABLE": "1", "ALLOW_DOWNLOAD": "1"}),
    (["--allow-download"], {"ALLOW_DOWNLOAD": "1"}),
], ids=["growing", "immutable", "immutable-download", "growing-download"])
def test_options_and_serve_sh_environment_agree(databases, options, environment):
    db = databases["outages"]
    answers = []
    port = free_port()
    ways = [(*serve_command(str(db), *options, port=free_port()), None),
            ([str(SERVE_SH), str(db)], f"http://127.0.0.1:{port}", serve_sh_environment(port, **environment))]
    for command, url, env in ways:
        with running(command, url, env):
            download = httpx.get(f"{url}/outages.db")
            answers.append((served(url)["databases"], served(url)["settings"]["allow_download"], download.status_code,
                            download.content == db.read_bytes()))
    immutable, allowed = "--immutable" in options, "--allow-download" in options
    # Datasette offers a file for download only if it is immutable and downloads are allowed.
    offered = immutable and allowed
    assert answers == [([("outages", not immutable)], allowed, 200 if offered else 403, offered)] * 2


def test_several_databases_at_once(databases, tmp_path):
    # Two files under their own names, and a third whose name is taken: Datasette names it outages_2.
    (tmp_path / "other").mkdir()
    third = shutil.copy(databases["outages"], tmp_path / "other" / "outages.db")
    command, url = serve_command(str(databases["outages"]), str(databases["legacy"]), str(third),
                                 port=free_port())
    with running(command, url):
        names = [name for name, _ in served(url)["databases"]]
        counts = {name: httpx.get(f"{url}/{name}.json", params={"sql": "select count(*) as n from snapshots",
                                                                "_shape": "array"}).json()[0]["n"]
                  for name in names}
    assert names == ["outages", "legacy", "outages_2"]
    assert counts["outages"] == counts["outages_2"] > 20
    assert counts["legacy"] > 20


def occupy(port: int) -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", port))
    listener.listen(1)
    return listener


@pytest.mark.parametrize("how", ["pge-outages", "serve.sh"])
def test_a_port_in_use_is_one_line(databases, how):
    port = free_port()
    expected = (f"Error: port {port} on 127.0.0.1 is already in use; "
                "stop what listens there, or choose another port\n")
    with occupy(port):
        if how == "pge-outages":
            result = run(*serve_command(str(databases["outages"]), port=port)[0])
        else:
            result = run(str(SERVE_SH), str(databases["outages"]), env=serve_sh_environment(port))
    assert (result.returncode, result.stdout, result.stderr) == (1, "", expected)


@pytest.mark.parametrize("name, make, message", [
    ("missing.db", lambda path: None, "{path}: no such file; build it first: pge-outages build REPO {path}"),
    ("notes.db", lambda path: path.write_text("my notes\n"), "{path} is not a SQLite database"),
    ("folder.db", lambda path: path.mkdir(), "{path} is a directory, not a database file"),
], ids=["missing", "not-sqlite", "directory"])
def test_a_bad_database_path_is_one_line(tmp_path, name, make, message):
    path = tmp_path / name
    make(path)
    result = run(*serve_command(str(path), port=free_port())[0])
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"Error: {message.format(path=path)}\n"


def test_without_datasette_serve_says_what_to_install(databases, tmp_path):
    script = tmp_path / "no_datasette.py"
    script.write_text(WITHOUT_DATASETTE)
    result = run(sys.executable, str(script), "serve", str(databases["outages"]), "--port", str(free_port()))
    assert result.returncode == 1
    assert result.stderr == ("Error: serving needs Datasette: pip install 'pge-outages[serve]'\n"
                             "datasette modules loaded: []\n")
    # Its help still shows, for someone deciding what to install.
    helped = run(sys.executable, str(script), "serve", "--help")
    assert helped.returncode == 0 and helped.stdout.startswith("Usage: pge-outages serve [OPTIONS] DB...")


def test_make_demo_takes_port(tmp_path):
    port = free_port()
    demo = tmp_path / "demo"
    process = subprocess.Popen(["make", "-C", str(ROOT), "demo", f"PORT={port}", f"DEMO={demo}"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, f"make demo did not serve on port {port}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/databases.json", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        answer = served(f"http://127.0.0.1:{port}")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert answer["databases"] == [("outages", True)]
    assert answer["settings"]["sql_time_limit_ms"] == 3000
    assert (demo / "outages.db").stat().st_size > 0
