# ethogram: `make demo` and `make test` bootstrap .venv from a clean clone.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all lint bench clean browser

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	MUJOCO_GL=egl $(BIN)/ethogram demo --out runs/demo --force

# Debian's Chromium for the report's browser test (tests/test_report.py skips it, saying why, where it is missing)
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; }; }; } || \
	  echo "note: Chromium could not be installed here; the browser test will be skipped"

test: $(STAMP) browser
	$(BIN)/python -m pytest -q -n 2 --dist loadscope -m "not slow" --durations=15 tests

test-all: $(STAMP) browser
	$(BIN)/python -m pytest -q -n 2 --dist loadscope tests

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m benchmarks.bench_foundation --out benchmarks/results/foundation.json

clean:
	rm -rf $(VENV) runs .pytest_cache
