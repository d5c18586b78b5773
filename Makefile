# crossline: `make run` sets up and serves the product on the embedded default; `make test`
# runs the whole suite on the embedded default and on MongoDB (a mongoeco server) at once.
SHELL := /bin/bash
PYTHON ?= python
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ADDR ?= 127.0.0.1:8000
DEMO_KNRS ?= 2000
VAR := $(or $(CROSSLINE_VAR_DIR),var)

.PHONY: install run test test-sqlite test-mongodb lint bench clean screenshots

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

# The README's screenshots, from the demo `make run` builds (in a temporary folder).
screenshots: $(STAMP)
	$(PY) docs/screenshots.py docs/screenshots

lint: $(STAMP)
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

test-sqlite: $(STAMP)
	$(PY) -m pytest

# The MongoDB pass keeps its own pytest cache: the two passes may run at the same time.
MONGODB_PYTEST := $(PY) -m tests.support.with_mongoeco $(PY) -m pytest -o cache_dir=.pytest_cache/mongodb

test-mongodb: $(STAMP)
	$(MONGODB_PYTEST)

# Both passes at once (the MongoDB pass is mostly the mongoeco server's CPU): MongoDB in the
# background into $(VAR)/test-mongodb.log, printed after the SQLite pass. They share no file:
# the SQLite pass uses $(VAR)/test-crossline.sqlite3, the MongoDB pass its own server, and every
# live instance its own temporary folder, database and port. The closing line is a pytest
# summary: the MongoDB pass's, or the SQLite pass's when that one failed.
test: lint
	@mkdir -p $(VAR); \
	$(MONGODB_PYTEST) > $(VAR)/test-mongodb.log 2>&1 & mongodb=$$!; \
	trap 'kill $$mongodb 2>/dev/null' INT TERM; \
	set -o pipefail; $(PY) -m pytest 2>&1 | tee $(VAR)/test-sqlite.log; sqlite=$$?; \
	wait $$mongodb; mongodb=$$?; \
	echo "== MongoDB pass ($(VAR)/test-mongodb.log)"; cat $(VAR)/test-mongodb.log; \
	if [ $$sqlite -ne 0 ]; then echo "== SQLite pass failed:"; tail -n 1 $(VAR)/test-sqlite.log; fi; \
	[ $$sqlite -eq 0 ] && [ $$mongodb -eq 0 ]

# Import, training and prediction at plant sizes beside their references (not part of `test`):
# BENCH_SIZES=1M,5M,20M,plant:40M BENCH_SHAPES=default,plant BENCH_STEPS=parse,import,train,
# plain,predict,mongo_import; where the plain reference and prediction run:
# BENCH_PLAIN_SIZES=1M,default:5M BENCH_PREDICT_SIZES=default:1M,default:20M,plant:1M,plant:40M;
# BENCH_STEP_TIMEOUT=900 (seconds for a step on up to 20M rows, proportionally more above: a
# step still running then is stopped and recorded as timed out); BENCH_BUDGET=9000 (seconds for
# the whole run: a step gets at most what is left); writes bench/results/latest.json and
# latest.md. The 40M plant-shape data set alone: BENCH_SIZES=plant:40M make bench.
bench: $(STAMP)
	nice -n 10 $(PY) bench/run.py

clean:
	rm -rf var/test-crossline.sqlite3* var/test-*.log .pytest_cache
