# One target per check; CI runs `make test` through .ci/run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck check bench install clean

$(STAMP): pyproject.toml
	bash scripts/install "$(PYTHON)" "$(VENV)"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/chatkit-backend serve

test: $(STAMP)
	bash scripts/test

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/python bench/store_bench.py
	$(BIN)/python bench/http_bench.py

clean:
	rm -rf $(VENV) data .pytest_cache
