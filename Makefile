# Two commands for a new user: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-oldest test-fast lint typecheck bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m aiodynamo_patterns demo

# The whole suite, soak cases included. pytest exits 5 when it collects nothing: that fails here.
test: $(STAMP)
	$(PY) -m pytest

# The lowest supported aiobotocore / botocore / boto3, with aioboto3 installed (.ci/oldest.txt):
# unit tests (mypy --strict included) and the integration suite on moto, in its own venv.
OLD_VENV := .venv-oldest
OLD_STAMP := $(OLD_VENV)/.installed

$(OLD_STAMP): pyproject.toml .ci/oldest.txt
	test -x $(OLD_VENV)/bin/python || $(PYTHON) -m venv $(OLD_VENV)
	$(OLD_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(OLD_VENV)/bin/python -m pip install --quiet -c .ci/oldest.txt -e '.[dev,aioboto3]'
	touch $(OLD_STAMP)

test-oldest: $(OLD_STAMP)
	$(OLD_VENV)/bin/python -m pip freeze | grep -iE '^(aioboto3|aiobotocore|botocore|boto3)=='
	$(OLD_VENV)/bin/python -m pytest -m 'not slow' --ddb-backend moto tests/unit tests/integration

test-fast: $(STAMP)
	$(PY) -m pytest -m 'not slow'

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# Benchmarks (seconds each; they print ratios measured in one run). Needs the bench extra.
bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) benchmarks/bench_get_item.py
	$(PY) benchmarks/bench_layers.py
	$(PY) benchmarks/bench_otel.py

clean:
	rm -rf $(VENV) $(OLD_VENV) .cache .pytest_cache .mypy_cache .ruff_cache *.egg-info
