"""Readers of the CI configurations: a GitHub workflow's or a CircleCI job's steps, and the
commands and data files the pipelines share."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
CIRCLECI = ROOT / ".circleci" / "config.yml"
# One round of the scraper, which every scheduler runs in a loop. No --skip-ci:
# on CircleCI, [skip ci] on the newest commit can also skip the scheduled
# scrape; the test jobs leave scrape commits alone instead.
SCRAPE_COMMAND = "python -m scrapers pge --output outages.json --areas outage-areas.geojson --commit --push"
# The loop each scheduler adds to the round: rounds on the 10-minute marks, for
# as long as a job may run (GitHub's 6 hours, CircleCI's Free-plan hour), or
# until systemd stops the service.
LOOPS = {
    "github": "--every 10m --for 5h45m",
    "circleci": "--every 10m --for 35m",
    "systemd": "--every 10m",
}
DATA_FILES = ["outages.json", "outage-areas.geojson", "pge-outages.json"]


def load_workflow(path: Path) -> dict:
    """A GitHub workflow as a dict; YAML 1.1 reads the `on` key as True, so it is put back."""
    workflow = yaml.safe_load(path.read_text())
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


def load_circleci() -> dict:
    return yaml.safe_load(CIRCLECI.read_text())


def github_steps(workflow: str, job: str) -> list[dict]:
    """The steps of one job of .github/workflows/<workflow>."""
    return load_workflow(WORKFLOWS / workflow)["jobs"][job]["steps"]


def circleci_steps(job: str) -> list[dict]:
    """The steps of one CircleCI job, each `run` written out as {"name": ..., "run": ...} like GitHub's."""
    steps = []
    for step in load_circleci()["jobs"][job]["steps"]:
        run = step.get("run") if isinstance(step, dict) else None
        if isinstance(run, str):
            steps.append({"name": run, "run": run})
        elif isinstance(run, dict):
            steps.append({"name": run.get("name", run["command"]), "run": run["command"], **run})
        else:
            steps.append(step if isinstance(step, dict) else {step: None})
    return steps


def circleci_data_only_step() -> dict:
    """The `test` job's step that halts it on a scrape's commit: data files only, or an empty liveness commit."""
    (step,) = [s for s in circleci_steps("test") if "circleci-agent step halt" in s.get("run", "")]
    return step


def with_loop(command: str, loop: str, replacement: str) -> str:
    """`command` with its loop options `loop` (ending it, once) replaced, as a test runs a 10-minute loop in seconds."""
    assert command.endswith(f" {loop}") and command.count(" --every ") == 1, (command, loop)
    return command.removesuffix(loop) + replacement

