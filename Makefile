# lixian: `make run` and `make test` set up everything they need on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := nginx-light ca-certificates ffmpeg fuse3 chromium iproute2 util-linux

.PHONY: run test lint bench bench-quick format system-deps clean web

# The web page: npm dev dependencies (esbuild, typescript) from the lockfile, type-checked
# and bundled into the package's static folder (not committed; shipped in the wheel).
WEB := src/lixian/web
WEB_NPM := $(WEB)/node_modules/.installed
WEB_BUNDLE := $(WEB)/static/index.html
WEB_SOURCES := $(wildcard $(WEB)/src/*.ts) $(WEB)/index.html $(WEB)/style.css $(WEB)/icon.svg \
	$(WEB)/build.mjs $(WEB)/tsconfig.json

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian packages the tests and benches use (nginx for the bench), only when root.
system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; fi; \
	fi

$(WEB_NPM): $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB_NPM)

$(WEB_BUNDLE): $(WEB_NPM) $(WEB_SOURCES)
	cd $(WEB) && npx --no-install tsc --noEmit -p . && node build.mjs

web: $(WEB_BUNDLE)

run: $(STAMP) web
	mkdir -p downloads
	$(BIN)/lixian serve --dir ./downloads --port 6800

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: $(STAMP) system-deps lint web
	$(BIN)/python -m pytest -q -n 3 --dist loadfile --durations=20

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Each writes its own table of ratios against aria2c (and curl, qbittorrent-nox, AriaNg,
# rclone) measured in the same run: bench/RESULTS*.md. Never part of `make test`.
bench: $(STAMP) system-deps web
	$(BIN)/python bench/run.py --rounds 3
	$(BIN)/python bench/rpc.py --rounds 3
	$(BIN)/python bench/bt.py --rounds 3
	$(BIN)/python bench/storage.py
	$(BIN)/python bench/web.py

bench-quick: $(STAMP) system-deps web
	$(BIN)/python bench/run.py --quick
	$(BIN)/python bench/rpc.py --quick
	$(BIN)/python bench/bt.py --quick
	$(BIN)/python bench/storage.py --quick

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
