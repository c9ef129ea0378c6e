# Two commands do all the set-up on a fresh machine: `make up` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: up test lint types unit services bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
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
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@echo "each benchmark's command is in bench/RESULTS.md next to its figures"

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
