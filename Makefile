# One entry point for developers and CI alike: every target builds its own virtualenv.
PYTHON ?= python3
VENV := .venv
# the compiled parts (setup.py): an edit to one rebuilds the install
C_SOURCES := $(wildcard src/chatwatch/*.c src/chatwatch/store/*.c)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean

APP_STAMP := $(VENV)/.installed-app
# uv builds the virtualenv and installs several times faster than pip; pip when absent.
UV := $(shell command -v uv 2>/dev/null)
ifneq ($(UV),)
MAKE_VENV = $(UV) venv --quiet --python $(PYTHON) $(VENV)
INSTALL = $(UV) pip install --quiet --python $(BIN)/python
else ifeq ($(shell $(PYTHON) -m pip install --help 2>/dev/null | grep -c -- '--python '),1)
# the interpreter's own pip installs into the virtualenv (pip >= 22.3): no pip inside it
# to bootstrap, which costs ~10 s
MAKE_VENV = $(PYTHON) -m venv --without-pip $(VENV)
INSTALL = $(PYTHON) -m pip --python $(BIN)/python install --quiet --disable-pip-version-check
else
MAKE_VENV = $(PYTHON) -m venv $(VENV)
INSTALL = $(BIN)/pip install --quiet --disable-pip-version-check
endif

$(BIN)/python:
	$(MAKE_VENV)

# the demo needs only the package itself, not the test and lint tools
$(APP_STAMP): pyproject.toml setup.py $(C_SOURCES) | $(BIN)/python
	$(INSTALL) -e .
	touch $(APP_STAMP)

$(STAMP): pyproject.toml setup.py $(C_SOURCES) | $(BIN)/python
	$(INSTALL) -e '.[dev]'
	touch $(STAMP) $(APP_STAMP)

# make demo PORT=8010, or make demo ARGS="--history 2d --rate 2"
demo: $(APP_STAMP)
	$(BIN)/chatwatch demo $(if $(PORT),--port $(PORT)) $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/sdk_overhead.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/queries.py
	$(BIN)/python bench/alerts.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/sessions.py
	$(BIN)/python bench/export.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
