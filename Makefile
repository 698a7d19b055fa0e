# Guichet: `make run` sets up and serves the app; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
export FLASK_APP := run.py

.PHONY: run test browser install translations extract-messages migrate demo-data serve bench clean

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
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --project=Guichet --copyright-holder=Guichet -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching

migrate: install
	$(BIN)/flask db upgrade

demo-data: migrate
	$(BIN)/flask demo-data

serve:
	@echo ""
	@echo "Guichet is served at http://$(HOST):$(PORT)/"
	@echo "Demo logins (password demo1234): admin vnoc creator lead agent eventadmin referent opadmin user"
	@echo ""
	$(BIN)/gunicorn --bind $(HOST):$(PORT) --workers 2 --threads 4 --access-logfile - run:app

run: translations demo-data serve

# Browser tests drive Debian's chromium (no browser download by Playwright).
browser:
	@test -x /usr/bin/chromium || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

test: translations browser
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/grid.py --rows $${ROWS:-1000000}

clean:
	rm -rf $(VENV) instance translations/*/LC_MESSAGES/*.mo
