"""The README and the docs it links to: generated parts current, links that lead somewhere."""

import re
import subprocess
import sys

import pytest

from support.helpers import ROOT

DOCS = ["README.md", *sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "docs").glob("*.md"))]
# [text](target) links, leaving out images' alt text and code spans' brackets.
_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a file's headings."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower().replace("`", "")).replace(" ", "-")
        found.add(slug)
    return found


def test_readme_is_up_to_date():
    result = subprocess.run(
        [sys.executable, "-m", "cogapp", "--check", *DOCS],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, (
        "README.md or docs/ differ from the code: run make cog\n" + result.stdout + result.stderr
    )


def test_quick_start_names_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make demo" in quick_start and "make test" in quick_start
    makefile = (ROOT / "Makefile").read_text()
    assert "\ndemo:" in makefile and "\ntest:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_readme_says_the_demo_is_synthetic_and_the_maps_need_the_internet():
    quick_start = (ROOT / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "**synthetic**" in quick_start
    assert "need the internet for their tiles" in quick_start


def test_the_readme_stays_for_users_and_links_every_doc():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 30_000, "the internals belong in docs/"
    for name in DOCS[1:]:
        assert f"]({name}" in readme, f"the README does not link to {name}"
    for shot in sorted((ROOT / "docs" / "screenshots").glob("*.png")):
        assert f"](docs/screenshots/{shot.name})" in readme, shot.name


@pytest.mark.parametrize("name", DOCS)
def test_links_lead_to_a_file_and_a_heading_that_exist(name):
    path = ROOT / name
    text = path.read_text()
    broken = []
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            broken.append(target)
    assert broken == []
