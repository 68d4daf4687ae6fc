# pe-portal — the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run install install-dev test lint check-types unit bench lock clean openapi messages

run: install ## set everything up and serve the API on 127.0.0.1:8000 (embedded PostgreSQL)
	$(BIN)/pe-portal serve

install: $(VENV)/.runtime ## .venv with the pinned runtime dependencies and the package

$(VENV)/.runtime: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

install-dev: $(VENV)/.dev ## + test tools, PostgreSQL, Chromium and Node for the browser and client tests

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.lock scripts/install-test-deps.sh tests/client/package-lock.json tests/console/package-lock.json
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	bash scripts/install-test-deps.sh
	npm ci --prefix tests/client --no-audit --no-fund --loglevel=error  # the generated-client test's pinned tools
	npm ci --prefix tests/console --no-audit --no-fund --loglevel=error  # axe-core for the console's pages
	touch $@

test: install-dev lint ## install what tests need and run the whole suite
	$(BIN)/python -m pytest

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy pe_portal tests $(wildcard bench)
	$(BIN)/lint-imports --no-cache  # the layers and import rules in pyproject.toml

bench: install-dev ## run the benchmarks (figures go to docs/benchmarks.md by hand)
	$(BIN)/python -m bench

lock: ## re-resolve dependencies and rewrite the lock files
	rm -rf /tmp/pe-portal-lock && $(PYTHON) -m venv /tmp/pe-portal-lock
	/tmp/pe-portal-lock/bin/pip install --quiet -e .
	( echo "# Exact pins of the runtime dependencies. Regenerate: make lock"; /tmp/pe-portal-lock/bin/pip freeze --exclude-editable ) > requirements.lock
	/tmp/pe-portal-lock/bin/pip install --quiet -e '.[dev]'
	( echo "# Exact pins of runtime + test/dev tools. Regenerate: make lock"; /tmp/pe-portal-lock/bin/pip freeze --exclude-editable ) > requirements-dev.lock

# The translator's workflow (docs/i18n.md): extract the English strings, merge them into the catalogs.
# tests/i18n/test_catalogs.py runs the same extraction and fails while the two differ.
LOCALE := pe_portal/i18n/locale
messages: install-dev ## re-extract messages.pot and update the fr/de catalogs from it
	$(BIN)/pybabel --quiet extract --mapping-file=babel.cfg --project=pe-portal \
		--copyright-holder=pe-portal --add-comments=Translators: --output-file=$(LOCALE)/messages.pot .
	$(BIN)/pybabel update --input-file=$(LOCALE)/messages.pot --output-dir=$(LOCALE) --ignore-obsolete

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

openapi: install ## rewrite docs/openapi.json from the app (after a deliberate API change)
	$(BIN)/python -m tests.web.test_openapi_document > docs/openapi.json
