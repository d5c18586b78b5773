# crossline: `make run` sets up and serves the product on the embedded default; `make test`
# runs the whole suite on the embedded default, then on MongoDB (a mongoeco server).
PYTHON ?= python
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ADDR ?= 127.0.0.1:8000
DEMO_KNRS ?= 2000
VAR := $(or $(CROSSLINE_VAR_DIR),var)

.PHONY: install run test test-sqlite test-mongodb lint bench clean

$(STAMP): requirements.txt requirements-test.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 13), "crossline needs Python 3.13, found " + sys.version' 
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $(STAMP)

install: $(STAMP)

# The secret key is generated once and kept in $(VAR)/secret-key.txt (settings read it too).
run: $(STAMP)
	@mkdir -p $(VAR); test -s $(VAR)/secret-key.txt || { umask 077; \
	  $(PY) -c 'import secrets; print(secrets.token_urlsafe(50))' > $(VAR)/secret-key.txt; }
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap --demo-knrs $(DEMO_KNRS)
	$(PY) manage.py collectstatic --noinput --verbosity 0
	@echo "crossline: http://$(ADDR)/admin/  http://$(ADDR)/api/  http://$(ADDR)/healthz"
	exec $(PY) manage.py serve $(ADDR)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

test-sqlite: $(STAMP)
	$(PY) -m pytest

test-mongodb: $(STAMP)
	$(PY) -m tests.support.with_mongoeco $(PY) -m pytest

test: lint test-sqlite test-mongodb

clean:
	rm -rf var/test-crossline.sqlite3* .pytest_cache
