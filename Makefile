# Fieldhub: `make run` starts the embedded server, `make test` runs the whole suite.
# Both create .venv and install requirements.txt on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-requirements
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run demo simulate test screenshots lint format typecheck check bench clean vendor

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

install: $(STAMP)

# A secret key for the embedded server, made once and kept in var/ (never committed), readable by its
# owner only from the first byte (as var/ itself), and only under its name once it is whole.
var/secret_key:
	@umask 077 && mkdir -p var && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@.new && mv $@.new $@

# Likewise the key device credentials are sealed with (CREDENTIALS_KEY): keep it with the database's backups' keys.
var/credentials_key:
	@umask 077 && mkdir -p var && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(48))" > $@.new && mv $@.new $@

run: install var/secret_key var/credentials_key
	@export SECRET_KEY="$${SECRET_KEY:-$$(cat var/secret_key)}" CREDENTIALS_KEY="$${CREDENTIALS_KEY:-$$(cat var/credentials_key)}"; \
	$(PY) manage.py bootstrap && \
	echo "Fieldhub on http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/, user 'admin')" && \
	exec $(PY) manage.py serve --host $(HOST) --port $(PORT)

# The embedded server with a simulated fleet behind a simulated Leshan (its own database in var/demo/):
# the dashboard moves within seconds. Ctrl-C stops both: the simulator first (it deregisters its devices
# while the server still runs: a background job of this shell ignores the terminal's Ctrl-C), then the server.
# The devices' lifetime is short and outages frequent so that the demo shows devices asleep, away and back
# within minutes; Fieldhub is told the simulated Leshan's awake time and sweeps every second to match.
DEMO_DEVICES ?= 12
DEMO_INTERVAL ?= 5
DEMO_LIFETIME ?= 30
DEMO_AWAKE ?= 3
DEMO_OFFLINE ?= 0.01
DEMO_LESHAN_PORT ?= 8080
demo: install var/secret_key var/credentials_key
	@export SECRET_KEY="$${SECRET_KEY:-$$(cat var/secret_key)}" CREDENTIALS_KEY="$${CREDENTIALS_KEY:-$$(cat var/credentials_key)}" FIELDHUB_VAR_DIR="$${FIELDHUB_VAR_DIR:-var/demo}" \
	  LESHAN_URL="http://127.0.0.1:$(DEMO_LESHAN_PORT)" FIRMWARE_BASE_URL="http://127.0.0.1:$(PORT)" \
	  QUEUE_MODE_AWAKE_SECONDS="$${QUEUE_MODE_AWAKE_SECONDS:-$(DEMO_AWAKE)}" \
	  DISPATCH_SWEEP_SECONDS="$${DISPATCH_SWEEP_SECONDS:-1}"; \
	mkdir -p -m 700 "$$FIELDHUB_VAR_DIR" && $(PY) manage.py bootstrap && $(PY) manage.py alarm_demo_rules || exit 1; \
	$(PY) manage.py serve --host $(HOST) --port $(PORT) & server=$$!; \
	$(PY) manage.py simulate --devices $(DEMO_DEVICES) --interval $(DEMO_INTERVAL) --lifetime $(DEMO_LIFETIME) \
	  --awake $(DEMO_AWAKE) --offline $(DEMO_OFFLINE) --progress 30 --trouble \
	  --url "http://127.0.0.1:$(PORT)" --leshan-port $(DEMO_LESHAN_PORT) & simulator=$$!; \
	trap 'trap "" INT TERM; kill $$simulator 2>/dev/null; wait $$simulator; kill $$server 2>/dev/null; wait $$server' EXIT; \
	trap 'exit 130' INT TERM; \
	echo "Fieldhub demo on http://$(HOST):$(PORT)/ (user 'admin'), $(DEMO_DEVICES) simulated devices"; \
	wait $$server

# More devices, or other options: make simulate ARGS="--devices 200 --interval 30" (against `make run`).
simulate: install var/secret_key
	@SECRET_KEY="$${SECRET_KEY:-$$(cat var/secret_key)}" $(PY) manage.py simulate $(ARGS)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The README's pictures (docs/screenshots/dashboard.png, device.png and device-site-and-labels.png), taken by
# the browser tests that make them; `make test` writes every browser test's pictures under var/screenshots/.
screenshots: install
	rm -rf var/readme-screenshots
	FIELDHUB_SCREENSHOTS=var/readme-screenshots $(PY) -m pytest -q tests/browser/test_ui.py \
	  tests/browser/test_sites_pages.py -k "test_the_dashboard_changes_without_reloading or \
	  test_a_chart_gains_a_point_as_readings_arrive or test_a_label_set_on_the_device_page_shows_live"
	cp var/readme-screenshots/dashboard.png var/readme-screenshots/device.png \
	  var/readme-screenshots/device-site-and-labels.png docs/screenshots/

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# mypy with django-stubs, strict on the apps ([tool.mypy] in pyproject.toml). Its Django plugin loads
# core.settings, which needs DEBUG=1 (or a real SECRET_KEY), as makemigrations does.
typecheck: install
	DEBUG=1 $(PY) -m mypy

check: lint typecheck
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) var/test.sqlite3* .pytest_cache .ruff_cache .mypy_cache

bench: install
	$(PY) bench/ingest.py --database postgres --server granian --workers 2 --conn-max-age 60

# Vendored front-end assets, served by Django from core/static/vendor/ (no CDN).
# To update: change a version below, run `make vendor`, then update the versions
# and integrity strings (printed by the recipe) in core/static/vendor/VENDORED.md.
HTMX_VERSION := 2.0.11
HTMX_WS_VERSION := 2.0.4
UPLOT_VERSION := 1.6.32
VENDOR_DIR := core/static/vendor

vendor:
	@set -eu; \
	dest="$(CURDIR)/$(VENDOR_DIR)"; \
	tmp=$$(mktemp -d); \
	trap 'rm -rf "$$tmp"' EXIT INT TERM; \
	cd "$$tmp"; \
	npm pack --json htmx.org@$(HTMX_VERSION) htmx-ext-ws@$(HTMX_WS_VERSION) uplot@$(UPLOT_VERSION) > pack.json; \
	node -e 'for (const p of require("./pack.json")) console.log(p.name + "@" + p.version + "  " + p.integrity)'; \
	mkdir htmx ws uplot; \
	tar xzf htmx.org-$(HTMX_VERSION).tgz -C htmx; \
	tar xzf htmx-ext-ws-$(HTMX_WS_VERSION).tgz -C ws; \
	tar xzf uplot-$(UPLOT_VERSION).tgz -C uplot; \
	rm -rf "$$dest/htmx" "$$dest/htmx-ext-ws" "$$dest/uplot"; \
	mkdir -p "$$dest/htmx" "$$dest/htmx-ext-ws" "$$dest/uplot"; \
	cp htmx/package/dist/htmx.min.js htmx/package/LICENSE "$$dest/htmx/"; \
	cp ws/package/dist/ws.min.js "$$dest/htmx-ext-ws/ws.js"; \
	cp ws/package/LICENSE "$$dest/htmx-ext-ws/"; \
	cp uplot/package/dist/uPlot.iife.min.js uplot/package/dist/uPlot.min.css uplot/package/LICENSE "$$dest/uplot/"; \
	chmod 644 "$$dest"/htmx/* "$$dest"/htmx-ext-ws/* "$$dest"/uplot/*; \
	echo "vendored into $(VENDOR_DIR)/: htmx.org $(HTMX_VERSION), htmx-ext-ws $(HTMX_WS_VERSION), uplot $(UPLOT_VERSION)"
