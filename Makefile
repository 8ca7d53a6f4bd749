# One target per check; `check` chains them, and CI (.ci/run) runs `make check`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LINTED := src tests bench scripts
# The tests mypy checks besides src: all of them (a folder still being typed may be left out
# for a while by listing the others here instead).
TYPED_TESTS := tests

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
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: $(STAMP)
	$(BIN)/mypy src $(TYPED_TESTS)

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/python bench/store_bench.py
	$(BIN)/python bench/http_bench.py

clean:
	rm -rf $(VENV) data .pytest_cache
