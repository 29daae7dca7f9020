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
APT_PACKAGES := chromium wrk docker-compose strace
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

system-deps: ## install the Debian packages the tests and benches need (chromium, wrk, docker-compose, strace)
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

test: $(STAMP) system-deps $(MODEL) ## run every test, then compose-test (installs what it needs first)
	FVF_REAL_DATA="$(abspath $(REAL_DATA))" $(BIN)/python -m pytest $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory compose-test

# Invalid-input knobs: INVALID_TARGETS=flask,fastapi (default: all six), INVALID_OUT=<run folder>
# (default results/invalid-<time>), FUZZ_EXAMPLES (generated requests per frontend).
INVALID_TARGETS ?=
INVALID_OUT ?=
FUZZ_EXAMPLES ?= 1000

.PHONY: invalid fuzz
invalid: $(STAMP) $(MODEL) ## send every catalogue case to every target: <run>/invalid_matrix.csv and .json
	$(BIN)/python -m loadtests.robustness.matrix $(if $(INVALID_TARGETS),--targets $(INVALID_TARGETS)) \
	  $(if $(INVALID_OUT),--out $(INVALID_OUT))

# tests/test_fuzz.py: schemathesis in-process, then `schemathesis run <base>/openapi.json
# --checks all` in positive and negative mode against each frontend it starts on loopback.
fuzz: $(STAMP) $(MODEL) ## schemathesis (in-process and its CLI, --checks all) against flask and fastapi
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/test_fuzz.py -s -q -p no:cacheprovider

# Bench knobs: QUICK=1, TARGETS="flask fastapi" (or all), ROUNDS=5, SLO_MS=25 (the p99 bound
# of the sustainable throughput), DURATION=0.8 (s per closed-loop phase), STEP=0.5 (s per
# open-loop step), USERS=1,8,32,64 (sweep levels), URL=http://127.0.0.1:8000 (a running
# deployment), BENCH_ARGS=... (any option of python -m loadtests.bench --help, e.g. --aa none,
# --instances 2, --confidence 0.95), SWEEP=1 (also run the model-cost sweep into the same run
# folder, about 4 more minutes; QUICK=1: 1 round).
QUICK ?=
SWEEP ?=
TARGETS ?=
ROUNDS ?=
SLO_MS ?=
DURATION ?=
STEP ?=
USERS ?=
URL ?=
BENCH_ARGS ?=
TIMES ?= 3
BENCH_OPTIONS = $(if $(filter 1 yes true,$(QUICK)),--quick) \
	  $(if $(TARGETS),--targets $(TARGETS)) $(if $(ROUNDS),--rounds $(ROUNDS)) \
	  $(if $(SLO_MS),--slo-ms $(SLO_MS)) $(if $(DURATION),--duration $(DURATION)) \
	  $(if $(STEP),--step $(STEP)) $(if $(USERS),--levels $(USERS)) $(if $(URL),--url $(URL)) \
	  $(BENCH_ARGS)

.PHONY: bench stability jitter drift
bench: $(STAMP) system-deps $(MODEL) ## benchmark into results/<UTC time>/ (QUICK=1 TARGETS= ROUNDS= SLO_MS= URL= SWEEP=1)
	$(BIN)/python -m loadtests.bench $(BENCH_OPTIONS)
	$(if $(filter 1 yes true,$(SWEEP)),$(BIN)/python -m loadtests.bench.sweep --out results/latest $(if $(filter 1 yes true,$(QUICK)),--quick))
	$(BIN)/python -m loadtests.report results/latest $(if $(filter 1 yes true,$(QUICK)),,--screenshot)
	@echo "results: results/latest -> $$(readlink results/latest)"

stability: $(STAMP) system-deps $(MODEL) ## run the bench TIMES=3 times; print each figure's spread and whether verdicts agree
	$(BIN)/python -m loadtests.bench.stability --times $(TIMES) $(BENCH_OPTIONS)

RATE ?= 1000
STEPS ?= 12
jitter: $(STAMP) $(MODEL) ## repeat one ladder step STEPS=12 times on TARGET at RATE req/s beside a stall meter
	$(BIN)/python -m loadtests.bench.jitter --target $(TARGET) --rate $(RATE) --steps $(STEPS) \
	  --json results/jitter-$(TARGET)-$(RATE).json

SETS ?= 6
BLOCKS ?= 6
SAME_SERVERS ?=
drift: $(STAMP) system-deps $(MODEL) ## wrk ratios in SETS=6 sets of fresh servers (TARGETS=, SAME_SERVERS=1): do sets differ?
	$(BIN)/python -m loadtests.bench.drift $(if $(TARGETS),--targets $(TARGETS)) --sets $(SETS) \
	  --blocks $(BLOCKS) $(if $(filter 1 yes true,$(SAME_SERVERS)),--same-servers) \
	  --json results/drift-$$(date -u +%Y%m%dT%H%M%SZ).json

# Model-cost sweep: FastAPI:Flask throughput at model costs noop..burn:5000 (QUICK=1: 1 round).
.PHONY: sweep
sweep: $(STAMP) system-deps $(MODEL) ## FastAPI:Flask ratio per model cost into results/sweep-<UTC time>/ (QUICK=1)
	$(BIN)/python -m loadtests.bench.sweep $(if $(filter 1 yes true,$(QUICK)),--quick)

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

# make up / make down run docker-compose.yml on the engine make compose-test finds (Docker's, else
# podman's Docker API) and leave it running. PROFILE=all (or load; several: PROFILE=all,load) adds
# the file's other services. The project is named as Compose names it here (COMPOSE_PROJECT_NAME,
# else this folder's name); make down takes the same name.
PROFILE ?=

up: $(STAMP) ## start flask (:8001), fastapi (:8002) on Docker or podman until make down (PROFILE=all WORKERS=4)
	@WORKERS=$(WORKERS) $(BIN)/python -m compose.deploy up $(if $(PROFILE),--profile "$(PROFILE)")

down: $(STAMP) ## stop and remove what make up started, and podman's API service if it started one
	@$(BIN)/python -m compose.deploy down

compose-check: system-deps ## validate docker-compose.yml statically (no Docker engine needed)
	$(COMPOSE) -f docker-compose.yml config -q

# Builds the image and runs docker-compose.yml for real: Docker's engine if `docker info`
# answers, else podman (installed from Debian, configured by compose/containers.conf only).
# Needs root (or sudo) when it installs podman or bootstraps the stand-in base image.
.PHONY: compose-test
compose-test: $(STAMP) system-deps ## build the image, run flask+fastapi and the load profile, take all down; then make up twice, make down
	FVF_COMPOSE_TEST=1 $(BIN)/python -m pytest tests/test_compose_stack.py tests/test_compose_up.py \
	  -s -q -p no:cacheprovider

# Explore by hand: TARGET on 127.0.0.1:PORT, Locust's web UI on 127.0.0.1:LOCUST_PORT.
# The server is stopped by its PID when Locust exits (Ctrl-C stops both).
LOCUST_PORT ?= 8089
LOCUSTFILE := loadtests/loadgen/locustfile.py

.PHONY: locust-ui
locust-ui: $(STAMP) $(MODEL) ## Locust's web UI against a local target: make locust-ui TARGET=flask (Ctrl-C stops both)
	@$(BIN)/python -m loadtests.serve $(TARGET) --host 127.0.0.1 --port $(PORT) & server=$$!; \
	trap 'kill $$server 2>/dev/null; wait $$server 2>/dev/null' EXIT; \
	for _ in $$(seq 150); do \
	  $(BIN)/python -m loadtests.common.healthcheck http://127.0.0.1:$(PORT)/health && break; \
	  kill -0 $$server 2>/dev/null || exit 1; sleep 0.2; \
	done; \
	$(BIN)/python -m loadtests.common.healthcheck http://127.0.0.1:$(PORT)/health || exit 1; \
	echo "$(TARGET) on http://127.0.0.1:$(PORT); Locust's UI on http://127.0.0.1:$(LOCUST_PORT) (Ctrl-C stops both)"; \
	$(BIN)/locust -f $(LOCUSTFILE) --host http://127.0.0.1:$(PORT) \
	  --web-host 127.0.0.1 --web-port $(LOCUST_PORT) --loglevel WARNING

lock: ## re-resolve requirements.lock from pyproject.toml (needs network)
	$(PYTHON) -m pip install --quiet uv && $(PYTHON) -m uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean: ## remove the venv, models, caches (results are kept)
	rm -rf $(VENV) models .pytest_cache .ruff_cache .mypy_cache .benchmarks *.egg-info
