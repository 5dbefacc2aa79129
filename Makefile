# Two commands matter: `make run` serves the helpdesk, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-stamp
STAMP := $(VENV)/.installed-stamp
export HELPDESK_INSTANCE_PATH ?= $(CURDIR)/instance
TRANSLATIONS := src/helpdesk/translations
PO_FILES := $(wildcard $(TRANSLATIONS)/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)
CODE := $(wildcard src tests benchmarks setup.py)

.PHONY: install install-runtime run test test-postgres lint typecheck format translations \
	extract-messages screenshots clean

# The application alone (what `make run` needs), then the development tools on top.
install-runtime: $(RUNTIME_STAMP) $(MO_FILES)

install: $(STAMP) $(MO_FILES)

$(RUNTIME_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME_STAMP)

$(STAMP): $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

%.mo: %.po $(RUNTIME_STAMP)
	$(BIN)/pybabel compile -i $< -o $@

translations: $(MO_FILES)

run: install-runtime
	$(BIN)/helpdesk db upgrade
	$(BIN)/helpdesk demo --if-empty
	$(BIN)/helpdesk serve

test: install lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

# The same suite on the PostgreSQL server at 127.0.0.1:5432 (each test gets its own database),
# less the tests that start their own servers and browsers, or a Redmine: those always use
# SQLite, so the SQLite pass has run them already.
TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/helpdesk_test
test-postgres: install
	TEST_DATABASE_URL=$(TEST_POSTGRES_URL) $(BIN)/pytest -m "not servers and not redmine" $(PYTEST_ARGS)

# The README's pictures, taken by a browser test on the demo data (Chromium at /usr/bin).
screenshots: install
	HELPDESK_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest tests/e2e/test_screenshots.py

lint: $(STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)

typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format $(CODE)
	$(BIN)/ruff check --fix $(CODE)

extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
