"""The CI configuration files, checked without running CI: schemas, zizmor, and the shape the README promises.

A broken or unsafe workflow fails `make test` here. Both checkers run offline:
check-jsonschema with its built-in schemas, zizmor with --offline.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scrapers.loop import parse_duration
from support.workflows import (
    CIRCLECI,
    DATA_FILES,
    LOOPS,
    ROOT,
    SCRAPE_COMMAND,
    WORKFLOWS,
    circleci_data_only_step,
    circleci_steps,
    github_steps,
    load_circleci,
    load_workflow,
)

ZIZMOR_CONFIG = ROOT / ".github" / "zizmor.yml"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.y*ml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def tool(name: str) -> str:
    """A command installed beside the running Python, as the test extras put it there."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"{name} is not installed beside {sys.executable}: run pip install -e '.[test]'")
    return str(path)


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, *map(str, files)],
        capture_output=True, text=True, check=False,
    )


def zizmor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("zizmor"), "--offline", "--persona", "auditor", "--no-progress", *args],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )


def zizmor_rules(result: subprocess.CompletedProcess[str]) -> set[str]:
    return {finding["ident"] for finding in json.loads(result.stdout)}


def test_the_pipelines_exist():
    assert [p.name for p in WORKFLOW_FILES] == ["build.yml", "scrape.yml", "test.yml"]
    assert CIRCLECI.is_file()


@pytest.mark.parametrize(
    "schema",
    ["vendor.github-workflows", "custom.github-workflows-require-timeout"],
)
def test_workflows_match_github_schema(schema):
    result = check_jsonschema(schema, *WORKFLOW_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_circleci_config_matches_circleci_schema():
    result = check_jsonschema("vendor.circle-ci", CIRCLECI)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "schema, name, breakage",
    [
        ("vendor.github-workflows", "scrape.yml", ("  workflow_dispatch:", "  workflow_dispatched:")),
        ("custom.github-workflows-require-timeout", "scrape.yml", ("    timeout-minutes: 355\n", "")),
        ("vendor.circle-ci", "config.yml", ("no_output_timeout:", "no_output_timout:")),
    ],
    ids=["misspelt-trigger", "no-timeout", "misspelt-circleci-key"],
)
def test_schema_check_catches_a_broken_file(tmp_path, schema, name, breakage):
    source = CIRCLECI if name == "config.yml" else WORKFLOWS / name
    old, new = breakage
    assert old in source.read_text()
    broken = tmp_path / name
    broken.write_text(source.read_text().replace(old, new, 1))
    result = check_jsonschema(schema, broken)
    assert result.returncode == 1, result.stdout


def test_zizmor_finds_nothing_in_the_workflows():
    result = zizmor(".github/workflows")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_zizmor_config_ignores_file_by_file_with_a_reason():
    config = yaml.safe_load(ZIZMOR_CONFIG.read_text())
    for rule, settings in config["rules"].items():
        assert "disable" not in settings, f"{rule} is disabled wholesale"
        for entry in settings.get("ignore", []):
            assert (WORKFLOWS / entry.split(":")[0]).is_file(), f"{rule} ignores {entry}, which does not exist"
    lines = ZIZMOR_CONFIG.read_text().splitlines()
    for number, line in enumerate(lines):
        if line.strip().startswith("- ") and lines[number - 1].strip() == "ignore:":
            pytest.fail(f"zizmor.yml line {number + 1}: {line.strip()} is ignored without a comment saying why")


UNSAFE = {
    # finding: (workflow, text, unsafe replacement)
    "unpinned-uses": (
        "test.yml",
        "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2",
        "actions/checkout@v4",
    ),
    "template-injection": (
        "scrape.yml",
        "run: python -m scrapers pge",
        "run: echo ${{ github.event.head_commit.message }} && python -m scrapers pge",
    ),
    "excessive-permissions": ("scrape.yml", "permissions: {}", "permissions: write-all"),
    "artipacked": ("test.yml", "persist-credentials: false", "persist-credentials: true"),
}


@pytest.mark.parametrize("finding", list(UNSAFE))
def test_zizmor_catches_an_unsafe_workflow(tmp_path, finding):
    name, safe, unsafe = UNSAFE[finding]
    text = (WORKFLOWS / name).read_text()
    assert safe in text
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / name).write_text(text.replace(safe, unsafe, 1))
    (tmp_path / ".github" / "zizmor.yml").write_text(ZIZMOR_CONFIG.read_text())
    result = zizmor("--format", "json", str(workflows))
    assert result.returncode != 0, result.stdout + result.stderr
    assert finding in zizmor_rules(result)


def test_every_action_is_pinned_to_a_commit():
    for path in WORKFLOW_FILES:
        for job in load_workflow(path)["jobs"].values():
            for step in job["steps"]:
                if "uses" in step:
                    assert PINNED.match(step["uses"]), f"{path.name}: {step['uses']} is not pinned to a commit"


def test_run_steps_hold_no_template_expressions():
    # Values reach the shell through env:, so nothing in a run: line is expanded by GitHub.
    for path in WORKFLOW_FILES:
        for name, job in load_workflow(path)["jobs"].items():
            for step in job["steps"]:
                assert "${{" not in step.get("run", ""), f"{path.name} {name}: {step.get('name')}"


# GitHub stops a job on its hosted runners after 6 hours; CircleCI after 1 on the Free plan.
GITHUB_JOB_LIMIT = 6 * 3600
CIRCLECI_FREE_JOB_LIMIT = 3600
# Setup before the loop (checkout, Python, pip install) and its last round (a
# fetch's 4-minute deadline, a recheck of a sudden empty feed, a push).
SETUP = 3 * 60
LAST_ROUND = 6 * 60


def loop_options(command: str) -> dict[str, float]:
    """The scrape command's loop options, in seconds: {"--every": 600, "--for": 20700}."""
    words = command.split()
    return {word: parse_duration(words[i + 1]) for i, word in enumerate(words) if word in ("--every", "--for")}


def cron_minutes(cron: str) -> list[int]:
    """The minutes of an every-hour cron ("17 * * * *" -> [17], "7,37 * * * *" -> [7, 37])."""
    minute, *rest = cron.split()
    assert rest == ["*"] * 4, f"{cron} does not run every hour"
    return [int(m) for m in minute.split(",")]


def scrape_command(ci: str) -> str:
    steps = github_steps("scrape.yml", "scrape") if ci == "github" else circleci_steps("scrape")
    (command,) = [s["run"] for s in steps if "scrapers" in s.get("run", "")]
    return command


def test_scrape_workflow_loops_with_the_next_run_always_queued_and_may_only_push():
    workflow = load_workflow(WORKFLOWS / "scrape.yml")
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}
    assert workflow["on"]["workflow_dispatch"] is None
    (schedule,) = workflow["on"]["schedule"]
    # Hourly, not at :00, GitHub's busiest time for schedules.
    (minute,) = cron_minutes(schedule["cron"])
    assert minute != 0
    # At most one running and one pending run, and the running one never cancelled.
    assert workflow["concurrency"] == {"group": "scrape", "cancel-in-progress": False}
    assert workflow["permissions"] == {}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"contents": "write"}
    assert scrape_command("github") == f"{SCRAPE_COMMAND} {LOOPS['github']}"
    loop = loop_options(scrape_command("github"))
    assert loop["--every"] == 600
    # Several hourly triggers come while a run loops, so one of them is always
    # pending when it ends, even if some are late or dropped.
    assert loop["--for"] >= 5 * 3600
    # The job ends by itself, its setup and last round included, before
    # timeout-minutes; timeout-minutes stops a stuck job before GitHub's limit does.
    assert SETUP + loop["--for"] + LAST_ROUND <= job["timeout-minutes"] * 60 < GITHUB_JOB_LIMIT


def test_circleci_loops_within_the_free_plan_job_limit_with_the_same_round():
    config = load_circleci()
    (schedule,) = config["workflows"]["scrape"]["triggers"]
    assert schedule["schedule"]["filters"] == {"branches": {"only": "main"}}
    minutes = cron_minutes(schedule["schedule"]["cron"])
    assert minutes == [25, 55]
    assert config["workflows"]["scrape"]["jobs"] == ["scrape"]
    assert config["workflows"]["scrape-on-trigger"]["jobs"] == ["scrape"]
    assert scrape_command("circleci") == f"{SCRAPE_COMMAND} {LOOPS['circleci']}"
    loop = loop_options(scrape_command("circleci"))
    assert loop["--every"] == 600
    # Each job is set up five minutes before the mark it starts on (:30, :00)...
    assert all((60 - m) % 30 == 5 for m in minutes)
    # ...and loops past the next job's start, so a late start loses no round...
    assert loop["--for"] > 30 * 60
    # ...and ends within the Free plan's hour, its setup and last round included.
    assert SETUP + loop["--for"] + LAST_ROUND < CIRCLECI_FREE_JOB_LIMIT
    (step,) = [s for s in circleci_steps("scrape") if "scrapers" in s.get("run", "")]
    # A quiet loop prints nothing for 10 minutes at a time, CircleCI's default limit.
    assert loop["--every"] < parse_duration(step["no_output_timeout"]) < CIRCLECI_FREE_JOB_LIMIT
    assert parse_duration(step["no_output_timeout"]) >= loop["--for"]


def test_github_and_circleci_run_the_same_round_in_the_same_loop():
    github, circleci = scrape_command("github"), scrape_command("circleci")
    assert github.split(" --for ")[0] == circleci.split(" --for ")[0] == f"{SCRAPE_COMMAND} --every 10m"


def test_build_workflow_fetches_only_what_the_cached_database_lacks():
    steps = github_steps("build.yml", "build")
    (checkout,) = [s for s in steps if s.get("uses", "").startswith("actions/checkout@")]
    assert "fetch-depth" not in checkout["with"]  # the last commit only
    ids = [s.get("id") for s in steps]
    assert ids.index("restore") < ids.index("fetch") < ids.index("build")


def test_build_workflow_runs_on_its_own_schedule_and_reads_only():
    workflow = load_workflow(WORKFLOWS / "build.yml")
    # Not after each Scrape run: a run loops for hours, so builds would come hours apart.
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}
    (schedule,) = workflow["on"]["schedule"]
    minutes = cron_minutes(schedule["cron"])
    # Every 30 minutes, not at :00 or :30 (the start of the hour is GitHub's
    # busiest time) but a few minutes after those rounds.
    assert len(minutes) == 2 and minutes[1] - minutes[0] == 30
    assert all(0 < m % 30 < 10 for m in minutes)
    assert set(workflow["on"]["workflow_dispatch"]["inputs"]) == {"rebuild"}
    assert workflow["concurrency"] == {"group": "build-database", "cancel-in-progress": False}
    assert workflow["permissions"] == {}
    job = workflow["jobs"]["build"]
    assert job["permissions"] == {"contents": "read"}
    assert "if" not in job  # no triggering run whose outcome to check
    assert "timeout-minutes" in job
    publish = [s for s in job["steps"] if s.get("id") == "publish"]
    assert publish and publish[0]["if"] == "steps.publishing.outputs.enabled == 'yes'"


def test_the_readme_gives_the_schedules_and_loops_the_files_hold():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Running it on a schedule", 1)[1].split("\n## ", 1)[0]
    for cron in (
        load_workflow(WORKFLOWS / "scrape.yml")["on"]["schedule"][0]["cron"],
        load_workflow(WORKFLOWS / "build.yml")["on"]["schedule"][0]["cron"],
        load_circleci()["workflows"]["scrape"]["triggers"][0]["schedule"]["cron"],
    ):
        assert f"`{cron}`" in section, cron
    for ci in ("github", "circleci"):
        duration = LOOPS[ci].removeprefix("--every 10m ")
        assert duration.startswith("--for ") and f"`{duration}`" in section, LOOPS[ci]


def test_test_workflow_runs_on_push_and_pull_request_and_reads_only():
    workflow = load_workflow(WORKFLOWS / "test.yml")
    assert set(workflow["on"]) == {"push", "pull_request"}
    # A scrape commit changes only data files; any other change is tested.
    assert workflow["on"]["push"] == {"paths-ignore": DATA_FILES}
    assert workflow["on"]["pull_request"] is None
    assert workflow["permissions"] == {}
    assert workflow["jobs"]["test"]["permissions"] == {"contents": "read"}
    assert workflow["jobs"]["test"]["steps"][-1]["run"] == "make test"
    assert {"name": "Lint and type-check", "run": "make lint"} in workflow["jobs"]["test"]["steps"]
    # The scraper's liveness mark changes no file: the job itself skips it, by its first line.
    assert workflow["jobs"]["test"]["if"] == (
        "github.event_name != 'push' || !startsWith(github.event.head_commit.message, 'No change; ')"
    )


def test_the_test_workflow_skips_the_liveness_mark_by_its_first_line_and_nothing_else():
    from scrapers import pge
    from scrapers.commits import Stamp, commit_message, liveness_message

    stamp = Stamp(1771529224)
    assert liveness_message(pge.ARCGIS, [], stamp).startswith("No change; ")
    change = commit_message(pge.ARCGIS, [], [{"OUTAGE_ID": 1, "layers": [4]}], stamp=stamp)
    assert change.startswith("1 outage added, ")


def test_circleci_test_job_first_checks_whether_the_commit_changes_only_data():
    steps = circleci_steps("test")
    assert steps[0] == {"checkout": None}
    assert steps[1] == circleci_data_only_step()
    assert not steps[1]["name"].startswith("Install ")  # test_pipelines_e2e.py runs it
    for name in DATA_FILES:
        assert f" -e {name}" in steps[1]["run"]


def test_circleci_runs_the_tests_on_push_but_not_on_a_schedule():
    config = load_circleci()
    assert config["workflows"]["test"]["jobs"] == ["test"]
    assert config["workflows"]["test"]["when"] == {
        "not": {"equal": ["scheduled_pipeline", "<< pipeline.trigger_source >>"]}
    }
    assert circleci_steps("test")[-1]["run"] == "make test"
    assert "make lint" in [step.get("run") for step in circleci_steps("test")]
