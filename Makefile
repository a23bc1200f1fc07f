# Two entry points: `make demo` runs the whole system on this machine,
# `make test` runs every check.  Both build .venv first when needed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBIAN_PACKAGES := prometheus prometheus-alertmanager

.PHONY: demo test lint typecheck clean

demo: $(STAMP)
	$(BIN)/simplepyms demo

test: $(STAMP) debian-packages lint typecheck
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy simplepyms exporters

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[router,host,tls,test]'
	touch $(STAMP)

# promtool, amtool, prometheus and alertmanager come from Debian.
.PHONY: debian-packages
debian-packages:
	@if ! command -v promtool >/dev/null || ! command -v prometheus-alertmanager >/dev/null; then \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES); \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Every benchmarks/*_bench.py, one after another: figures, not tests.
# scrape_bench.py compares with Pushgateway, from Debian.
.PHONY: bench
bench: $(STAMP)
	@command -v prometheus-pushgateway >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-pushgateway; }
	set -e; for script in benchmarks/*_bench.py; do echo "== $$script"; $(BIN)/python $$script; done

# The long property-based run: 10,000 examples a property (about an hour).
.PHONY: test-long
test-long: $(STAMP)
	SIMPLEPYMS_HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -q tests/property
