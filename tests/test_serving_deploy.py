"""The deployment recipes in deploy/ and the Dockerfile: valid, and doing what they say.

The systemd units are checked by `systemd-analyze verify` (which must also
reject a broken unit) and their commands are run as written (the scraper's
10-minute loop with rounds a second apart); the Dockerfile's
build step and command are run outside Docker, with its paths moved into a
temporary directory, since no Docker daemon is assumed.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from pge_outages.synthetic import generate_history
from scrapers.cli import cli as scrapers_cli
from scrapers.loop import parse_duration
from support.helpers import ROOT, git
from support.scraper_server import clone, make_remote, serve_feed
from support.servers import free_port, running
from support.workflows import LOOPS, SCRAPE_COMMAND

DEPLOY = ROOT / "deploy"
UNITS = [
    "pge-outages-datasette.service", "pge-outages-refresh.service", "pge-outages-refresh.timer",
    "pge-outages-scrape.service",
]
HARDENING = ["ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "NoNewPrivileges"]
INSTALL_SYSTEMD = "install Debian's systemd for systemd-analyze: sudo apt-get install -y systemd"
VENV_BIN = Path(sys.executable).parent


def render_units(target: Path, var: Path) -> dict[str, Path]:
    """The units with this checkout, this test's venv and `var` in place of the
    server's /opt/pge-outages, its .venv and /var/lib/pge-outages."""
    target.mkdir(parents=True, exist_ok=True)
    rendered = {}
    for name in UNITS:
        text = (DEPLOY / name).read_text()
        text = text.replace("/opt/pge-outages/.venv/bin", str(VENV_BIN))
        text = text.replace("/opt/pge-outages", str(ROOT)).replace("/var/lib/pge-outages", str(var))
        rendered[name] = target / name
        rendered[name].write_text(text)
    return rendered


def unit_settings(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) for each line of a unit file, in order (keys repeat)."""
    settings, section = [], None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        else:
            key, _, value = line.partition("=")
            settings.append((section, key, value))
    return settings


def unit_command(path: Path) -> tuple[list[str], dict[str, str]]:
    """ExecStart and the Environment= it runs in."""
    settings = unit_settings(path)
    env = dict(os.environ)
    for _, key, value in settings:
        if key == "Environment":
            name, _, text = value.partition("=")
            env[name] = text
    [command] = [value for _, key, value in settings if key == "ExecStart"]
    return shlex.split(command), env


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    executable = shutil.which("systemd-analyze")
    if executable is None:
        pytest.skip(f"systemd-analyze is not installed: {INSTALL_SYSTEMD}")
    return executable


def verify(systemd_analyze: str, paths: list[Path]) -> tuple[int, str]:
    result = subprocess.run([systemd_analyze, "verify", "--man=no", *map(str, paths)],
                            capture_output=True, text=True)
    return result.returncode, (result.stdout + result.stderr).strip()


def test_systemd_units_verify(systemd_analyze, tmp_path):
    units = render_units(tmp_path / "units", tmp_path / "var")
    # Not a warning either: systemd ignores a misspelt key with no more than that.
    assert verify(systemd_analyze, list(units.values())) == (0, "")


@pytest.mark.parametrize("unit, change, complaint", [
    ("pge-outages-refresh.service", ("-m pge_outages", "-m pge_outages_missing"), None),
    ("pge-outages-datasette.service", ("deploy/serve.sh", "deploy/serve-missing.sh"),
     "is not executable: No such file or directory"),
    ("pge-outages-refresh.service", ("ExecStart=", "ExecStrat="), "Unknown key 'ExecStrat'"),
    ("pge-outages-refresh.timer", ("OnCalendar=*:05/10", "OnCalendar=*:65/10"), "Failed to parse calendar"),
    ("pge-outages-refresh.timer", ("OnCalendar=", "OnCalender="), "Timer unit lacks value setting"),
    ("pge-outages-scrape.service", ("KillSignal=SIGTERM", "KillSignal=SIGTREM"), "Failed to parse signal name"),
], ids=["python-module", "missing-executable", "misspelt-key", "bad-calendar", "timer-without-schedule",
        "bad-kill-signal"])
def test_a_broken_unit_fails_verification(systemd_analyze, tmp_path, unit, change, complaint):
    units = render_units(tmp_path / "units", tmp_path / "var")
    text = units[unit].read_text()
    assert change[0] in text
    units[unit].write_text(text.replace(change[0], change[1], 1))
    if complaint is None:
        # systemd cannot see that a Python module is missing: running the command does.
        command, env = unit_command(units[unit])
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        assert result.returncode == 1
        assert "No module named pge_outages_missing" in result.stderr
        return
    status, output = verify(systemd_analyze, list(units.values()))
    assert output and complaint in output, output


def test_the_timer_fires_five_minutes_after_each_scrape(systemd_analyze):
    [calendar] = [value for _, key, value in unit_settings(DEPLOY / "pge-outages-refresh.timer")
                  if key == "OnCalendar"]
    result = subprocess.run([systemd_analyze, "calendar", "--iterations=6", calendar],
                            capture_output=True, text=True, check=True)
    minutes = re.findall(r"\d\d:(\d\d):00 UTC", result.stdout)
    assert len(minutes) == 6
    assert {int(m) % 10 for m in minutes} == {5}


@pytest.fixture
def server_layout(tmp_path):
    """/var/lib/pge-outages as the README sets it up: a clone of the data repository."""
    upstream = generate_history(tmp_path / "upstream", commits=60, era="arcgis", seed=4)
    var = tmp_path / "var"
    var.mkdir()
    subprocess.run(["git", "clone", "-q", str(upstream), str(var / "history")], check=True)
    return upstream, var


@pytest.mark.slow
def test_the_units_commands_run_as_written(tmp_path, server_layout):
    upstream, var = server_layout
    units = render_units(tmp_path / "units", var)

    command, env = unit_command(units["pge-outages-refresh.service"])
    refreshed = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert refreshed.returncode == 0, refreshed.stderr
    assert re.fullmatch(r"\S+Z refresh: pulled 0 commits; \d+ commits read, \d+ snapshots added, "
                        r"0 versions skipped in \d+\.\d\ds; their coverage: [\d.]+ h watched, [\d.]+ h quiet, "
                        r"[\d.]+ h blind, [\d.]+ h unknown(; [\d,]+ outages? outside every California county)?\n",
                        refreshed.stdout), refreshed.stdout

    command, env = unit_command(units["pge-outages-datasette.service"])
    assert env["HOST"] == "127.0.0.1"
    env["PORT"] = str(free_port())
    with running(command, f"http://127.0.0.1:{env['PORT']}", env) as url:
        snapshots = httpx.get(f"{url}/outages/snapshots.json?_size=1&_sort_desc=id&_shape=array").json()
        assert snapshots[0]["hash"] == git(var / "history", "log", "-1", "--format=%H", "--", "outages.json")
        assert httpx.get(f"{url}/-/settings.json").json()["sql_time_limit_ms"] == 3000


def settings_of(unit: str) -> dict[str, str]:
    """A unit's [Service] settings (the last value of a repeated key)."""
    return {key: value for section, key, value in unit_settings(DEPLOY / unit) if section == "Service"}


def scraper_default(option: str) -> str:
    """The default of one of `python -m scrapers pge`'s options, as its --help shows it."""
    (param,) = [p for p in scrapers_cli.commands["pge"].params if p.name == option]
    return str(param.default)


def test_the_scrape_service_loops_every_10_minutes_until_stopped():
    scrape = settings_of("pge-outages-scrape.service")
    command = shlex.split(scrape["ExecStart"])
    # The CI jobs' round, in a loop with no end: no --for.
    assert command[0] == "/opt/pge-outages/.venv/bin/python"
    assert command[1:] == SCRAPE_COMMAND.split()[1:] + LOOPS["systemd"].split()
    assert "--for" not in command
    assert scrape["Type"] == "simple"
    assert scrape["Restart"] == "always" and parse_duration(scrape["RestartSec"]) >= 10
    # SIGTERM to the scraper alone; stopping waits out the round's grace period.
    assert (scrape["KillSignal"], scrape["KillMode"]) == ("SIGTERM", "mixed")
    assert parse_duration(scrape["TimeoutStopSec"]) > 2 * parse_duration(scraper_default("grace"))


def test_the_scrape_service_keeps_out_of_the_refreshs_clone_and_is_as_locked_down():
    scrape, refresh = settings_of("pge-outages-scrape.service"), settings_of("pge-outages-refresh.service")
    # refresh pulls in /var/lib/pge-outages/history: the scraper commits in a clone of its own.
    refreshed_clone = shlex.split(refresh["ExecStart"])[-2]
    assert refreshed_clone == "/var/lib/pge-outages/history"
    assert scrape["WorkingDirectory"] == f"/var/lib/{scrape['StateDirectory']}/history"
    assert not scrape["WorkingDirectory"].startswith("/var/lib/pge-outages/")
    # A user of its own: the one that can push is not the one serving Datasette.
    assert scrape["User"] not in ("root", refresh["User"], settings_of("pge-outages-datasette.service")["User"])
    assert scrape["StateDirectory"] != refresh["StateDirectory"]
    assert scrape["Environment"] == f"HOME=/var/lib/{scrape['StateDirectory']}"
    assert {key: scrape[key] for key in HARDENING} == {key: refresh[key] for key in HARDENING}


@pytest.mark.slow
def test_the_scrape_services_command_runs_as_written_and_stops_on_sigterm(tmp_path):
    var = tmp_path / "var"
    units = render_units(tmp_path / "units", var)
    command, env = unit_command(units["pge-outages-scrape.service"])
    [workdir] = [value for _, key, value in unit_settings(units["pge-outages-scrape.service"])
                 if key == "WorkingDirectory"]
    remote = make_remote(tmp_path, {"README.md": b"PG&E outages\n"})
    Path(workdir).parent.mkdir(parents=True)
    clone(remote, Path(workdir))
    # Rounds a second apart rather than ten minutes.
    assert command.count("10m") == 1
    command[command.index("10m")] = "1s"
    with serve_feed() as feed:
        env.update(PGE_OUTAGES_URL=feed.url, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
        try:
            deadline = time.monotonic() + 30
            while git(remote, "rev-list", "--count", "main", "--", "outages.json").strip() != "1":
                assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
                time.sleep(0.2)
            process.send_signal(signal.SIGTERM)  # systemctl stop
            output, _ = process.communicate(timeout=30)
        finally:
            process.kill()
    assert process.returncode == 0, output
    assert "stopped by a signal" in output
    assert git(Path(workdir), "status", "--porcelain").strip() == ""
    assert git(Path(workdir), "rev-parse", "HEAD") == git(remote, "rev-parse", "main")


def test_serve_sh_says_how_to_call_it():
    result = subprocess.run([str(DEPLOY / "serve.sh")], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (2, f"usage: {DEPLOY / 'serve.sh'} DB [pge-outages serve options]\n")


# ----------------------------------------------------------------------------
# The Dockerfile

def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each instruction, continuation lines joined."""
    instructions, pending = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        word, _, rest = text.partition(" ")
        instructions.append((word.upper(), rest.strip()))
    return instructions


def dockerfile_env() -> dict[str, str]:
    env = {}
    for word, rest in dockerfile_instructions():
        if word == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(rest))
    return env


def dockerignored(path: str) -> bool:
    """Whether .dockerignore leaves `path` out of the build context (last match wins)."""
    ignored = False
    for pattern in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/").removeprefix("**/")
        parts = path.split("/")
        if any(fnmatch.fnmatch("/".join(parts[:i]), pattern) for i in range(1, len(parts) + 1)) or \
                any(fnmatch.fnmatch(part, pattern) for part in parts):
            ignored = not negate
    return ignored


def test_dockerfile_shape():
    instructions = dockerfile_instructions()
    words = [word for word, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert ("ARG", "DATA_REPO") in instructions
    # A plain install, with Datasette: views.sql and the templates travel inside the package.
    assert any(word == "RUN" and "pip install" in rest and rest.endswith(" '.[serve]'") for word, rest in instructions)
    # The database is built before the image drops to a user who cannot change it.
    [user] = [rest for word, rest in instructions if word == "USER"]
    assert user not in ("root", "0")
    build_step = next(i for i, (word, rest) in enumerate(instructions) if "build_database.py" in rest)
    assert build_step < words.index("USER")
    env = dockerfile_env()
    assert (env["HOST"], env["IMMUTABLE"], env["ALLOW_DOWNLOAD"]) == ("0.0.0.0", "1", "0")
    assert env["PORT"].isdigit()
    [cmd] = [rest for word, rest in instructions if word == "CMD"]
    assert cmd.startswith('["deploy/serve.sh", "/data/outages.db"')


def test_dockerignore_keeps_what_the_image_copies_and_nothing_else():
    copied = []
    for word, rest in dockerfile_instructions():
        if word == "COPY":
            copied += shlex.split(rest)[:-1]
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not dockerignored(source.rstrip("/")), source
        for path in (ROOT / source).rglob("*") if (ROOT / source).is_dir() else []:
            if "__pycache__" not in path.parts:
                assert not dockerignored(str(path.relative_to(ROOT))), path
    for left_out in (".git", ".venv/bin/python", "outages.db", "demo/outages.db", "tests/conftest.py",
                     "pge_outages/__pycache__/build.cpython-311.pyc"):
        assert dockerignored(left_out), left_out


def _run_step(tmp_path: Path) -> str:
    """The Dockerfile's database step, with /tmp/history and /data moved under tmp_path."""
    [step] = [rest for word, rest in dockerfile_instructions() if word == "RUN" and "build_database.py" in rest]
    return step.replace("/tmp/history", str(tmp_path / "clone")).replace("/data", str(tmp_path / "data"))


def _build_environment(**args: str) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    for word, rest in dockerfile_instructions():
        if word == "ARG":
            name, _, default = rest.partition("=")
            env[name] = args.get(name, default)
    return env


@pytest.mark.slow
def test_the_dockerfile_builds_the_database_and_serves_it_read_only_on_port(tmp_path):
    upstream = generate_history(tmp_path / "upstream", commits=80, era="arcgis", seed=6)
    built = subprocess.run(["sh", "-c", _run_step(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                           env=_build_environment(DATA_REPO=str(upstream)))
    assert built.returncode == 0, built.stderr
    db = tmp_path / "data" / "outages.db"
    assert sorted(p.name for p in db.parent.iterdir()) == ["counts.json", "outages.db"]
    assert not (tmp_path / "clone").exists()

    [cmd] = [rest for word, rest in dockerfile_instructions() if word == "CMD"]
    command = [str(ROOT / part) if part.startswith("deploy/") else part.replace("/data", str(db.parent))
               for part in shlex.split(cmd.strip("[]").replace(",", " "))]
    port = free_port()
    # As an app platform runs it: its own $PORT; 127.0.0.1 only in place of the image's 0.0.0.0.
    env = {**os.environ, **dockerfile_env(), "PORT": str(port), "HOST": "127.0.0.1",
           "DATASETTE": f"{sys.executable} -m datasette"}
    with running(command, f"http://127.0.0.1:{port}", env) as url:
        [database] = httpx.get(f"{url}/-/databases.json").json()
        assert (database["name"], database["is_mutable"]) == ("outages", False)
        assert httpx.get(f"{url}/outages.db").status_code == 403
        count = httpx.get(f"{url}/outages.json?sql=select+count(*)+as+n+from+snapshots&_shape=array").json()
        assert count[0]["n"] > 70


def test_the_dockerfile_asks_for_the_data_repository(tmp_path):
    built = subprocess.run(["sh", "-c", _run_step(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                           env=_build_environment())
    assert built.returncode == 1
    assert built.stderr == ("give the data repository: docker build --build-arg "
                            "DATA_REPO=https://github.com/YOU/pge-outages.git .\n")
    assert not (tmp_path / "data").exists()


# ----------------------------------------------------------------------------
# DigitalOcean App Platform

def test_app_platform_spec_deploys_the_dockerfile():
    spec = yaml.safe_load((ROOT / ".do" / "app.yaml").read_text())
    assert spec["name"]
    [service] = spec["services"]
    assert service["name"]
    assert service["dockerfile_path"] == "Dockerfile"
    assert service["http_port"] == int(dockerfile_env()["PORT"])
    assert set(service["github"]) >= {"repo", "branch"}
    # Build-time variables are the Dockerfile's build args; DATA_REPO, which it requires, is given.
    build_args = {rest.partition("=")[0] for word, rest in dockerfile_instructions() if word == "ARG"}
    envs = {env["key"]: env for env in service["envs"]}
    assert envs["DATA_REPO"]["scope"] in ("BUILD_TIME", "RUN_AND_BUILD_TIME")
    assert envs["DATA_REPO"]["value"].startswith("https://")
    for key, env in envs.items():
        assert env["scope"] in ("BUILD_TIME", "RUN_TIME", "RUN_AND_BUILD_TIME"), key
        assert isinstance(env["value"], str), key
        if env["scope"] == "BUILD_TIME":
            assert key in build_args, key
        else:
            assert key in dockerfile_env(), key
    # It serves through deploy/serve.sh: the Dockerfile's command, unless the spec gives its own.
    [cmd] = [rest for word, rest in dockerfile_instructions() if word == "CMD"]
    command = shlex.split(service["run_command"]) if "run_command" in service else json.loads(cmd)
    assert command[:2] == ["deploy/serve.sh", "/data/outages.db"]
    assert service["health_check"]["http_path"].startswith("/")
