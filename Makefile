# achex: `make run` starts the exchange with demo data; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
# The real corpora for demo data and data-driven tests live in the shared folder beside the
# project. In a clone made elsewhere (for instance by a newcomer check), find it through the
# clone's origin.
ORIGIN := $(shell git config --get remote.origin.url 2>/dev/null)
SHARED_DATA ?= $(abspath $(firstword $(wildcard ../shared/data) $(if $(ORIGIN),$(wildcard $(ORIGIN)/../shared/data))))
export ACHEX_SHARED_DATA := $(SHARED_DATA)
DATA_DIR ?= data
PG_URL ?= postgres://postgres@127.0.0.1:5432/postgres
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

.PHONY: help run test test-sqlite test-postgres lint check-tools browser

help:
	@echo "make run    build and start achex with demo data (SQLite in ./$(DATA_DIR)); prints the URL"
	@echo "make test   every test, on SQLite and (when it answers) PostgreSQL"
	@echo "make lint   rustfmt and clippy, as CI runs them"

check-tools:
	@command -v $(CARGO) >/dev/null || { echo "cargo is required: install Rust from rustup.rs"; exit 1; }

run: check-tools
	@[ -n "$(SHARED_DATA)" ] || { echo "the demo corpora (shared/data) were not found; set SHARED_DATA=/path/to/shared/data"; exit 1; }
	$(CARGO) build -p achex-server --bin achex
	ACHEX__DEMO__DATA_DIR="$(SHARED_DATA)" "$(TARGET_DIR)/debug/achex" --data-dir "$(DATA_DIR)" serve --demo

test: check-tools test-sqlite test-postgres

# The browser tests drive Debian's Chromium (headless, over the DevTools protocol); install the
# package when it is missing. ACHEX_CHROMIUM names another binary.
CHROMIUM ?= $(or $(ACHEX_CHROMIUM),chromium)
browser:
	@command -v "$(CHROMIUM)" >/dev/null || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$sudo apt-get install -y --no-install-recommends chromium >/dev/null \
	    || { $$sudo apt-get update >/dev/null && $$sudo apt-get install -y --no-install-recommends chromium >/dev/null; } \
	    || { echo "cannot install chromium: install Debian's chromium package, or set ACHEX_CHROMIUM"; exit 1; }; }

test-sqlite: browser
	env -u TEST_DATABASE_URL $(CARGO) test --workspace

# Runs the database-backed suites again on PostgreSQL when TEST_DATABASE_URL is set or a server
# answers on 127.0.0.1:5432 (each test creates its own database there).
test-postgres: browser
	@url="$${TEST_DATABASE_URL:-}"; \
	if [ -z "$$url" ] && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then url="$(PG_URL)"; fi; \
	if [ -z "$$url" ]; then echo "PostgreSQL not reachable: skipped the PostgreSQL run"; exit 0; fi; \
	echo "Running the database suites on PostgreSQL ($$url)"; \
	TEST_DATABASE_URL="$$url" $(CARGO) test -p achex-tests -p achex-server

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
