# flask-vs-fastapi: every entry point. `make` alone lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL := models/metadata.json
REAL_DATA ?= $(wildcard ../shared/data/cardio_train.csv)
DATA ?=
TARGET ?= flask
PORT ?= 8000
WORKERS ?= 1
PYTEST_ARGS ?=
APT_PACKAGES := chromium wrk docker-compose
# Compose v2 plugin if present, else Debian's docker-compose v1 (both read docker-compose.yml).
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install system-deps train test lint format serve up down compose-check lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install the locked dependencies
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

system-deps: ## install the Debian packages the tests and benches need (chromium, wrk, docker-compose)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

train: $(STAMP) ## train the model (synthetic data; DATA=path/to/cardio_train.csv for the real file)
	$(BIN)/python -m shared_model.train $(if $(DATA),--data $(DATA))

$(MODEL): | $(STAMP)
	$(BIN)/python -m shared_model.train

test: $(STAMP) system-deps $(MODEL) ## run every test (installs what it needs first)
	FVF_REAL_DATA="$(abspath $(REAL_DATA))" $(BIN)/python -m pytest $(PYTEST_ARGS)

# Invalid-input knobs: INVALID_TARGETS=flask,fastapi (default: all six), INVALID_OUT=<run folder>
# (default results/invalid-<time>), FUZZ_EXAMPLES (generated requests per frontend).
INVALID_TARGETS ?=
INVALID_OUT ?=
FUZZ_EXAMPLES ?= 1000

.PHONY: invalid fuzz
invalid: $(STAMP) $(MODEL) ## send every catalogue case to every target: <run>/invalid_matrix.csv and .json
	$(BIN)/python -m loadtests.robustness.matrix $(if $(INVALID_TARGETS),--targets $(INVALID_TARGETS)) \
	  $(if $(INVALID_OUT),--out $(INVALID_OUT))

fuzz: $(STAMP) $(MODEL) ## schemathesis against flask and fastapi over HTTP (FUZZ_EXAMPLES=1000 each)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/test_fuzz.py -s -q

# Bench knobs: QUICK=1, TARGETS="flask fastapi", DURATION=3 (s per phase), USERS=1,8,32,64
# (sweep levels), REPEATS=3, URL=http://127.0.0.1:8000 (a running deployment), BENCH_ARGS=...
QUICK ?=
TARGETS ?=
DURATION ?=
USERS ?=
REPEATS ?=
URL ?=
BENCH_ARGS ?=

.PHONY: bench
bench: $(STAMP) system-deps $(MODEL) ## benchmark into results/<UTC time>/ (QUICK=1 TARGETS= DURATION= USERS= REPEATS= URL=)
	$(BIN)/python -m loadtests.bench $(if $(filter 1 yes true,$(QUICK)),--quick) \
	  $(if $(TARGETS),--targets $(TARGETS)) $(if $(DURATION),--duration $(DURATION)) \
	  $(if $(USERS),--levels $(USERS)) $(if $(REPEATS),--repeats $(REPEATS)) \
	  $(if $(URL),--url $(URL)) $(BENCH_ARGS)
	$(BIN)/python -m loadtests.report results/latest $(if $(filter 1 yes true,$(QUICK)),,--screenshot)
	@echo "results: results/latest -> $$(readlink results/latest)"

# Report knobs: RUN (the run to render), BASE and NEW (the runs to compare), REF (the run
# whose figures become the README's reference table; its summary is kept in results/reference/).
RUN ?= results/latest
BASE ?=
NEW ?= results/latest
REF ?= results/latest

.PHONY: report compare reference
report: $(STAMP) ## render RUN's report.html and report.md (RUN=results/latest)
	$(BIN)/python -m loadtests.report $(RUN)

compare: $(STAMP) ## compare two runs: make compare BASE=results/<run> NEW=results/<run>
	@test -n "$(BASE)" || { echo "usage: make compare BASE=results/<run> [NEW=results/latest]" >&2; exit 2; }
	$(BIN)/python -m loadtests.report $(NEW) --compare $(BASE)

reference: $(STAMP) ## regenerate README.md's reference table from REF (REF=results/latest)
	$(BIN)/python -m loadtests.report $(REF) --readme README.md --keep results/reference

lint: $(STAMP) ## ruff check, ruff format --check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

serve: $(STAMP) $(MODEL) ## start one target in the foreground: make serve TARGET=fastapi PORT=8002
	$(BIN)/python -m loadtests.serve $(TARGET) --port $(PORT) --workers $(WORKERS)

up: ## start flask (:8001) and fastapi (:8002) in Docker; needs a Docker host (WORKERS=4 make up)
	WORKERS=$(WORKERS) $(COMPOSE) up -d --build flask fastapi

down: ## stop and remove every container of docker-compose.yml (needs a Docker host)
	$(COMPOSE) --profile all --profile load down

compose-check: system-deps ## validate docker-compose.yml statically (no Docker engine needed)
	$(COMPOSE) -f docker-compose.yml config -q

lock: ## re-resolve requirements.lock from pyproject.toml (needs network)
	$(PYTHON) -m pip install --quiet uv && $(PYTHON) -m uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean: ## remove the venv, models, caches (results are kept)
	rm -rf $(VENV) models .pytest_cache .ruff_cache .mypy_cache .benchmarks *.egg-info
