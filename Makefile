# verpd: `make run` starts the daemon on the demo configuration, `make test` runs
# every test. Both create ./.venv and install what they need on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= config.example.toml
PYTEST_ARGS ?=

.PHONY: run test bench install clean help

help:
	@echo "make run    start verpd with $(CONFIG) (LMTP on 127.0.0.1:8024, SQLite in ./var/)"
	@echo "make test   run the whole test suite"
	@echo "make bench  run the benchmarks"
	@echo "make clean  remove .venv and ./var"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "verpd needs Python 3.11 or newer ($(PYTHON) is older); set PYTHON=python3.11"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || \
	  { echo "cannot create a virtualenv: on Debian/Ubuntu run 'sudo apt-get install python3-venv'"; exit 1; }

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --config-settings editable_mode=compat -e .
	@$(BIN)/python -m compileall -q verpd >/dev/null
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --config-settings editable_mode=compat -e '.[test]'
	@$(BIN)/python -m compileall -q verpd >/dev/null
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/verpd --config $(CONFIG) serve

# pytest exits 5 when it collected no test at all: report that as a failure with a clear message.
test: $(VENV)/.installed-test
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests (check PYTEST_ARGS / testpaths)"; fi; \
	  exit $$status

bench: $(VENV)/.installed-test
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var *.egg-info
