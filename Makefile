# The README's two commands are `make run` and `make test`; CI runs `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check bench-intake bench-ack bench-schedule bench-digest clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/roost run

test: $(STAMP)
	$(BIN)/pytest

check: $(STAMP)
	$(BIN)/ruff check bot handlers storage tests bench
	$(BIN)/ruff format --check bot handlers storage tests bench
	$(BIN)/mypy

bench-intake: $(STAMP)
	$(BIN)/python -m bench.intake

bench-ack: $(STAMP)
	$(BIN)/python -m bench.ack

bench-schedule: $(STAMP)
	$(BIN)/python -m bench.schedule

bench-digest: $(STAMP)
	$(BIN)/python -m bench.digest

clean:
	rm -rf $(VENV) var
