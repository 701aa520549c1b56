# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo run test lint bench train evaluate clean

$(STAMP): pyproject.toml constraints.txt package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned, so nothing later can pull a CUDA build.
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[detoxify,embeddings,dev]'
	$(BIN)/pip check
	# GOV.UK Frontend for the officers' app and axe-core for its accessibility tests.
	npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/triage demo

run: install
	$(BIN)/triage run

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench.classify
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.projector

train: install
	$(BIN)/triage train --shared ../shared/data --out classifiers/model

evaluate: install
	$(BIN)/triage evaluate --shared ../shared/data

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
