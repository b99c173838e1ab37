# `make demo` and `make test` each create .venv and install domaintune into it when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast lint chromium bench format clean

$(BIN)/domaintune: pyproject.toml
	@echo "Installing domaintune and its dependencies into $(VENV) (a few minutes, once)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/domaintune
	$(BIN)/domaintune run

test: lint chromium
	$(BIN)/python -m pytest

# The inner loop: everything but real trainings, multi-process runs and registry fetches.
test-fast: lint
	$(BIN)/python -m pytest -m "not slow and not network"

# Style, and the one-way imports of ARCHITECTURE.md (the contract is in pyproject.toml).
lint: $(BIN)/domaintune
	$(BIN)/python -m ruff check src tests bench
	$(BIN)/python -m ruff format --check src tests bench
	$(BIN)/lint-imports

# Chromium for the test that renders report.html in a browser; a machine where apt-get cannot
# install it (not root, no apt-get, no mirror) goes on, and that test is skipped with the reason.
APT_CHROMIUM := apt-get install -y -q --no-install-recommends chromium
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { $(APT_CHROMIUM) || { apt-get update -q && $(APT_CHROMIUM); }; }; } || \
	echo "chromium not installed (needs root and apt-get): the browser test will be skipped"

# Classic recipe against domaintune's defaults on the default task (~30 min on two cores).
# A smoke test: make bench BENCH_ARGS="--limit-rows 200 --epochs 1"
bench: $(BIN)/domaintune
	$(BIN)/python bench/train_throughput.py $(BENCH_ARGS)

format: $(BIN)/domaintune
	$(BIN)/python -m ruff format src tests bench
	$(BIN)/python -m ruff check --fix src tests bench

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
