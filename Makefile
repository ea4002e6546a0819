# The README's two commands are `make run` and `make test`; CI runs `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check messages screenshots lock bench-intake bench-ack bench-schedule bench-digest bench-chaos bench-spend bench-grouping bench-surge clean

# Exact versions with their hashes from requirements.lock (nothing else is resolved),
# then Roost itself, editable, built by the locked setuptools.
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# `roost run` when Slack settings are present (environment or .env), else the sandbox.
run: $(STAMP)
	$(BIN)/python -m sandbox

test: $(STAMP)
	$(BIN)/pytest

check: $(STAMP)
	$(BIN)/ruff check bot handlers storage sandbox tests bench
	$(BIN)/ruff format --check bot handlers storage sandbox tests bench
	$(BIN)/mypy

# The message catalogues: every sentence marked in the code (bot.i18n) into the template,
# and each language's catalogue brought up to date with it; then translate what is new
# (an empty msgstr) in bot/locale/<language>/LC_MESSAGES/roost.po. To add a language:
# `$(BIN)/pybabel init -D roost -i var/roost.pot -d bot/locale -l <code>`, and add its
# code to bot.i18n.LANGUAGES.
messages: $(STAMP)
	mkdir -p var
	$(BIN)/pybabel -q extract -F babel.cfg --no-location --sort-output --omit-header -w 100 \
		-o var/roost.pot bot handlers
	$(BIN)/pybabel -q update -D roost -i var/roost.pot -d bot/locale --no-fuzzy-matching -w 100 \
		--ignore-obsolete

# The README's pictures (docs/screenshots/), taken from the sandbox in headless Chromium.
screenshots: $(STAMP)
	$(BIN)/python -m tests.sandbox.screenshots

bench-intake: $(STAMP)
	$(BIN)/python -m bench.intake

bench-ack: $(STAMP)
	$(BIN)/python -m bench.ack

bench-schedule: $(STAMP)
	$(BIN)/python -m bench.schedule

bench-digest: $(STAMP)
	$(BIN)/python -m bench.digest

bench-chaos: $(STAMP)
	$(BIN)/python -m bench.chaos

bench-spend: $(STAMP)
	$(BIN)/python -m bench.spend

bench-grouping: $(STAMP)
	$(BIN)/python -m bench.grouping

bench-surge: $(STAMP)
	$(BIN)/python -m bench.surge

# Upgrading is deliberate: re-resolve the newest versions pyproject.toml's ranges allow,
# then review the lock's diff and run the tests before committing it.
lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet pip-tools==7.7.0
	.venv-lock/bin/pip-compile --quiet --upgrade --extra dev --generate-hashes --allow-unsafe \
		--strip-extras --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .venv-lock var
