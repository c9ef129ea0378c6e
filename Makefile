# Two commands do all the set-up on a fresh machine: `make up` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
# Every install is held to constraints.txt: a fresh machine gets the versions the suite last
# passed with, not whatever the index resolves that day (a newer redis-py broke `mypy` once).
PIP_INSTALL := $(BIN)/python -m pip install --quiet -c constraints.txt

.PHONY: up test lint types unit services bench lock clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(PIP_INSTALL) -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

up: $(STAMP)
	$(BIN)/solbot up

services:
	@scripts/ensure-services.sh
	@scripts/ensure-chromium.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) services lint types
	$(BIN)/pytest -q

bench: $(STAMP) services
	$(PIP_INSTALL) -e '.[dev,bench]'
	@echo "each benchmark's command is in bench/RESULTS.md next to its figures"

# Move to the newest versions pyproject.toml allows; then `make test` before committing the file.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet --upgrade -e '.[dev,bench]'
	@{ echo "# Exact versions the tests last passed with (make lock regenerates it from what pip resolves today)."; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v -i '^pip=='; } > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
