# SmartMarket: `make demo` runs the whole platform on the embedded stack; `make test` runs the test suite.
PYTHON ?= python3
# uv comes from PATH, or is bootstrapped into .tools/ with the system Python (only Python 3.11 needed).
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV_BIN := .venv/bin
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := false
export MLFLOW_ENABLE_TELEMETRY := false
export DO_NOT_TRACK := 1

.PHONY: install prepare demo serve test test-fast lint ui bench clean

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv>=0.5"

.venv/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	touch $@

install: .venv/.installed

# Parse the dbt project once so the Dagster code location loads fast.
prepare: install
	$(VENV_BIN)/dbt parse --quiet --project-dir dbt_project --profiles-dir dbt_project

demo: prepare
	$(VENV_BIN)/python -m orchestration.demo $(DEMO_ARGS)

# The prediction and data API on what the last pipeline run published (port SMARTMARKET_API_PORT, default 8000).
serve: install
	$(VENV_BIN)/python -m serving $(SERVE_ARGS)

test: prepare
	$(VENV_BIN)/pytest -q

test-fast: prepare
	$(VENV_BIN)/pytest -q -m "not slow"

lint: install
	$(VENV_BIN)/ruff check .

ui: prepare
	DAGSTER_HOME=$${SMARTMARKET_DATA_DIR:-$(CURDIR)/data}/dagster_home; mkdir -p $$DAGSTER_HOME; \
	DAGSTER_HOME=$$DAGSTER_HOME $(VENV_BIN)/dagster dev -w workspace.yaml

bench: prepare
	$(VENV_BIN)/python -m bench.run_all

clean:
	rm -rf data dbt_project/target dbt_project/logs .pytest_cache
