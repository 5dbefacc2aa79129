# Two commands matter: `make run` serves the helpdesk, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export HELPDESK_INSTANCE_PATH ?= $(CURDIR)/instance
TRANSLATIONS := src/helpdesk/translations
PO_FILES := $(wildcard $(TRANSLATIONS)/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)
CODE := $(wildcard src tests benchmarks)

.PHONY: install run test test-postgres lint format translations extract-messages clean

install: $(STAMP) $(MO_FILES)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile -i $< -o $@

translations: $(MO_FILES)

run: install
	$(BIN)/helpdesk db upgrade
	$(BIN)/helpdesk demo --if-empty
	$(BIN)/helpdesk serve

test: install lint
	$(BIN)/pytest $(PYTEST_ARGS)

# The same suite on the PostgreSQL server at 127.0.0.1:5432 (each test gets its own database).
TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/helpdesk_test
test-postgres: install
	TEST_DATABASE_URL=$(TEST_POSTGRES_URL) $(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)

format: $(STAMP)
	$(BIN)/ruff format $(CODE)
	$(BIN)/ruff check --fix $(CODE)

extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
