# The two commands of the README's Quick start. Each sets up its own .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO := demo
# make demo PORT=8002 serves the demo on another port.
PORT ?= 8001

.PHONY: demo test lint cog install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/pge-outages generate $(DEMO)/history --era today --commits 1000 --seed 1
	$(BIN)/pge-outages build $(DEMO)/history $(DEMO)/outages.db
	$(BIN)/pge-outages serve $(DEMO)/outages.db --port $(PORT)

# The whole suite in two parts: everything but the timing tests on two workers, a test file to
# each (pytest-xdist); then the timing tests, which assert on wall-clock time, alone.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not timing"
	$(BIN)/python -m pytest -m timing

# Write the code's constants and --help texts into the files that show them (a test fails while they differ).
cog: $(STAMP)
	$(BIN)/cog -r README.md docs/*.md views.sql metadata.yml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(DEMO) *.egg-info
