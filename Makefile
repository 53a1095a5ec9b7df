# Linli — two commands: `make run` and `make test`. Both set themselves up from nothing but
# Python 3.11 and make.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080
DB     ?= var/linli.db

.PHONY: run test lint imports typecheck pytest chromium dovecot demo bench clean help

help:
	@echo "make run   - set up, create the demo community in $(DB), serve on $(HOST):$(PORT)"
	@echo "make test  - set up with the test extras, run ruff, lint-imports, mypy --strict and pytest"
	@echo "make bench - outbox, RSVP answers, check-in lookups and redemptions beside bare baselines, and peak RSS"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(BIN)/linli demo --db $(DB) --host $(HOST) --port $(PORT)

run: demo
	$(BIN)/linli serve --db $(DB) --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check service channels tests
	$(BIN)/ruff format --check service channels tests

# The layers of docs/architecture.md, as contracts in pyproject.toml ([tool.importlinter]).
imports: $(VENV)/.installed-test
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy --strict service channels

# The browser tests (tests/browser) drive the system's Chromium, found as their conftest.py
# finds it: $$CHROMIUM_PATH, else `chromium` or `chromium-browser` on PATH. When it is
# missing, root with apt-get installs it (fonts-noto-cjk: the screenshots show Chinese, not
# boxes); anyone else is stopped at once with one line saying what to run. The browser tests
# are never skipped.
CHROMIUM_PACKAGES := chromium fonts-noto-cjk
found_chromium = $(shell if [ -n "$$CHROMIUM_PATH" ]; then [ -x "$$CHROMIUM_PATH" ] && echo "$$CHROMIUM_PATH";\
	else command -v chromium || command -v chromium-browser; fi)
can_apt = $(and $(filter 0,$(shell id -u 2>/dev/null)),$(shell command -v apt-get))
NO_CHROMIUM := make test needs Chromium for the browser tests: run `sudo apt-get update && sudo\
	apt-get install -y --no-install-recommends $(CHROMIUM_PACKAGES)`, or set CHROMIUM_PATH to a\
	Chromium binary

# A system package the tests need: nothing when found ($(1)), else installed by root with
# apt-get ($(2)), else make stops with one line saying what to run ($(3)).
need_package = $(if $(1),@:,$(if $(can_apt),DEBIAN_FRONTEND=noninteractive sh -c 'apt-get update -qq\
	  && apt-get install -y -qq --no-install-recommends $(2) >/dev/null',$(error $(3))))

chromium:
	$(call need_package,$(found_chromium),$(CHROMIUM_PACKAGES),$(NO_CHROMIUM))

# The IMAP reader's tests (tests/test_imap_reader.py) start a real Dovecot, found as
# tests/dovecot.py finds it: $$DOVECOT_PATH, else `dovecot` on PATH or /usr/sbin/dovecot.
# Got the same way as Chromium: root with apt-get installs it, anyone else is stopped at
# once with one line saying what to run. Those tests are never skipped either.
DOVECOT_PACKAGES := dovecot-imapd
found_dovecot = $(shell if [ -n "$$DOVECOT_PATH" ]; then [ -x "$$DOVECOT_PATH" ] && echo "$$DOVECOT_PATH";\
	else command -v dovecot || { [ -x /usr/sbin/dovecot ] && echo /usr/sbin/dovecot; }; fi)
NO_DOVECOT := make test needs Dovecot for the IMAP tests: run `sudo apt-get update && sudo\
	apt-get install -y --no-install-recommends $(DOVECOT_PACKAGES)`, or set DOVECOT_PATH to a\
	dovecot binary

dovecot:
	$(call need_package,$(found_dovecot),$(DOVECOT_PACKAGES),$(NO_DOVECOT))

pytest: chromium dovecot $(VENV)/.installed-test
	$(BIN)/pytest -q

test: chromium dovecot lint imports typecheck pytest

# Figures, not pass/fail: see tests/bench/outbox.py, rsvp.py and checkin.py. For a quick look:
# make bench BENCH_ARGS="--webhook 1000 --email 500 --big 0" RSVP_ARGS="--answers 1000" \
#   CHECKIN_ARGS="--bookings 10000 --lookups 2000" REDEEM_ARGS="--redemptions 2000"
bench: $(VENV)/.installed-test
	$(BIN)/python -m tests.bench.outbox $(BENCH_ARGS)
	$(BIN)/python -m tests.bench.rsvp $(RSVP_ARGS)
	$(BIN)/python -m tests.bench.checkin $(CHECKIN_ARGS)
	$(BIN)/python -m tests.bench.redeem $(REDEEM_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
