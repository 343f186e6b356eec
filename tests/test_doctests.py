"""Docstring examples are written one way, as doctests, and they run: what a docstring shows
is what the code does. Examples that need a repository, a server or a database say so with
`# doctest: +SKIP` and show no made-up output."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re

import pytest

import pge_outages
import scrapers
from support.helpers import ROOT

MODULES = sorted(
    f"{package.__name__}.{module.name}"
    for package in (pge_outages, scrapers)
    for module in pkgutil.iter_modules(package.__path__)
    if module.name != "__main__"  # runs its command when imported
)


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_most_examples_run_rather_than_being_skipped():
    finder = doctest.DocTestFinder()
    examples = [example for name in MODULES for test in finder.find(importlib.import_module(name))
                for example in test.examples]
    skipped = [example for example in examples if example.options.get(doctest.SKIP)]
    assert len(examples) >= 50
    assert len(skipped) < len(examples) / 2


def test_no_example_is_written_the_old_way():
    # "Example: f(x) == y" in a docstring is prose no one runs. Commands keep their shell
    # examples in their --help text ("Example:" on a line of its own).
    old = [f"{path.relative_to(ROOT)}: {line.strip()}"
           for path in sorted([*(ROOT / "pge_outages").glob("*.py"), *(ROOT / "scrapers").glob("*.py")])
           for line in path.read_text().splitlines() if re.match(r'\s*(""")?Example: \S', line)]
    assert old == []
