# Guichet: `make run` sets up and serves the app; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
export FLASK_APP := run.py

.PHONY: run test browser vendor install translations extract-messages migrate demo-data serve bench clean

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

install: $(BIN)/.installed

translations: install
	$(BIN)/pybabel compile -d translations --statistics
	@for lang in fr en; do test -s translations/$$lang/LC_MESSAGES/messages.mo || { echo "missing translations/$$lang catalogue"; exit 1; }; done

# Refresh the catalogues after changing user-facing strings (then translate fr).
extract-messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_pgettext:1c,2 --project=Guichet --copyright-holder=Guichet -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching

# JavaScript libraries from the npm registry (package-lock.json), served from app/static/vendor/;
# Debian's nodejs and npm are installed when missing.
VENDOR := app/static/vendor
$(VENDOR)/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm; }
	npm ci --no-audit --no-fund
	mkdir -p $(VENDOR)/fullcalendar
	cp node_modules/fullcalendar/index.global.min.js $(VENDOR)/fullcalendar/fullcalendar.min.js
	cp node_modules/@fullcalendar/core/locales/fr.global.min.js $(VENDOR)/fullcalendar/fr.min.js
	cp node_modules/fullcalendar/LICENSE.md $(VENDOR)/fullcalendar/LICENSE.md
	mkdir -p $(VENDOR)/chart.js
	cp node_modules/chart.js/dist/chart.umd.min.js $(VENDOR)/chart.js/chart.min.js
	cp node_modules/chart.js/LICENSE.md $(VENDOR)/chart.js/LICENSE.md
	mkdir -p $(VENDOR)/qr-scanner
	cp node_modules/qr-scanner/qr-scanner.umd.min.js node_modules/qr-scanner/qr-scanner-worker.min.js $(VENDOR)/qr-scanner/
	cp node_modules/qr-scanner/LICENSE $(VENDOR)/qr-scanner/LICENSE
	mkdir -p $(VENDOR)/leaflet
	cp -r node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css node_modules/leaflet/dist/images $(VENDOR)/leaflet/
	cp node_modules/leaflet/LICENSE $(VENDOR)/leaflet/LICENSE
	touch $@

vendor: $(VENDOR)/.installed

migrate: install
	$(BIN)/flask db upgrade

demo-data: migrate
	$(BIN)/flask demo-data

serve:
	@echo ""
	@echo "Guichet is served at http://$(HOST):$(PORT)/"
	@echo "Demo logins (password demo1234): admin vnoc creator creator2 client cmartin client2 lead agent referent referent2 desk teacher student user eventadmin clubadmin checker etudiant etudiant2 insa externe opadmin opuser opsav wholesale ops"
	@echo ""
	@# With REDIS_URL, jobs go to RQ: an RQ worker and the cron scheduler run beside gunicorn.
	@if [ -n "$$REDIS_URL" ]; then \
	  echo "REDIS_URL is set: starting an RQ worker (flask worker) and the scheduler (flask cron)"; \
	  $(BIN)/flask worker & worker=$$!; \
	  $(BIN)/flask cron & cron=$$!; \
	  trap 'kill $$worker $$cron 2>/dev/null; wait $$worker $$cron 2>/dev/null' EXIT; \
	  $(BIN)/gunicorn --bind $(HOST):$(PORT) --workers 2 --threads 4 --access-logfile - run:app; \
	else \
	  echo "Embedded default: one web process (its sign-in attempt counts live in its memory)"; \
	  $(BIN)/gunicorn --bind $(HOST):$(PORT) --workers 1 --threads 8 --access-logfile - run:app; \
	fi

run: translations vendor demo-data serve

# Browser tests drive Debian's chromium (no browser download by Playwright).
browser:
	@test -x /usr/bin/chromium || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# Three workers (pytest-xdist) on the two cores, one test file each at a time, each with a
# database of its own: much of the suite waits on a browser, a live server or a worker, so
# a third keeps the cores busy (the whole suite: 8.5 min, against 10.4 with two).
TEST_WORKERS ?= 3
test: translations vendor browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Benchmarks (PostgreSQL on 127.0.0.1, each in a database of its own): figures as `key: value`.
bench: install
	$(BIN)/python bench/grid.py --rows $${ROWS:-1000000}
	$(BIN)/python bench/mail.py
	$(BIN)/python bench/booking.py
	$(BIN)/python bench/tickets.py
	$(BIN)/python bench/ent.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/operator_desk.py
	for desk in booking tickets ent events operator_desk; do $(BIN)/python bench/$$desk.py --part grid || exit 1; done
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) instance translations/*/LC_MESSAGES/*.mo
