# Fieldhub: `make run` starts the embedded server, `make test` runs the whole suite.
# Both create .venv and install requirements.txt on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-requirements
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint format check bench clean

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

install: $(STAMP)

# A secret key for the embedded server, made once and kept in var/ (never committed).
var/secret_key:
	@mkdir -p var
	@$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@
	@chmod 600 $@

run: install var/secret_key
	@export SECRET_KEY="$${SECRET_KEY:-$$(cat var/secret_key)}"; \
	$(PY) manage.py bootstrap && \
	echo "Fieldhub on http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/, user 'admin')" && \
	exec $(PY) -m daphne -b $(HOST) -p $(PORT) core.asgi:application

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

check: lint
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) var/test.sqlite3* .pytest_cache .ruff_cache

bench: install
	$(PY) bench/ingest.py --database postgres --server granian --workers 2 --conn-max-age 60
