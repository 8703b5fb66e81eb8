# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help venv install run migrate seed worker beat test lint typecheck check clean

help:
	@echo "make run    - set up .venv, migrate, load demo data, serve on http://$(HOST):$(PORT)"
	@echo "make test   - run the test suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)"
	@echo "make lint   - ruff check + format check;  make typecheck - mypy;  make check - both + migrations"

# Find a Python 3.12+ (the .python-version file, pyenv, or python3.13/3.12 on PATH).
$(VENV)/.created:
	@interp="$$(scripts/find-python)" && echo "Using $$interp" && "$$interp" -m venv $(VENV)
	@touch $@

$(VENV)/.installed: $(VENV)/.created pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

venv install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py init_payment_keys

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	$(PY) manage.py collectstatic --noinput --verbosity 0
	@echo "Serving on http://$(HOST):$(PORT)/  (API docs: /api/docs/, admin: /admin/)"
	$(VENV)/bin/uvicorn telehealth.asgi:application --host $(HOST) --port $(PORT)

worker: install
	$(VENV)/bin/celery -A telehealth worker -Q default,notifications --loglevel=INFO

beat: install
	$(VENV)/bin/celery -A telehealth beat --loglevel=INFO

test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy .

check: lint typecheck
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .mypy_cache .ruff_cache db.sqlite3
