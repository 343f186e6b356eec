"""The README's generated parts (--help output, schema) match the code."""

import subprocess
import sys

from support.helpers import ROOT


def test_readme_is_up_to_date():
    result = subprocess.run(
        [sys.executable, "-m", "cogapp", "--check", "README.md"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, (
        "README.md differs from the code: run .venv/bin/cog -r README.md\n" + result.stdout + result.stderr
    )


def test_quick_start_names_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make demo" in quick_start and "make test" in quick_start
    makefile = (ROOT / "Makefile").read_text()
    assert "\ndemo:" in makefile and "\ntest:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()
