# The commands the README names. Each target creates (or reuses) the virtual environment in $(VENV).
# torch is pinned and installed first: these machines carry a local CPU build of torch 2.13.0, while a bare
# `torch` requirement could pull a multi-GB CUDA build.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_PIN ?= torch==2.13.0
STAMP := $(VENV)/.installed
OUTPUT ?= outputs

.PHONY: run test test-all lint format bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH_PIN)"
	$(PY) -m pip install --quiet -e ".[all]"
	touch $(STAMP)

## The main job: the tutorial demo (replaced by the clustering comparison once it lands).
run: $(STAMP)
	$(PY) tutorials/plackett_luce_basics.py --output $(OUTPUT)

## The default test suite (slow statistical/SVI checks included; well under 15 minutes on 2 cores).
test: $(STAMP)
	$(PY) -m pytest tests

## The fast subset, skipping checks marked slow.
test-fast: $(STAMP)
	$(PY) -m pytest tests -m "not slow"

lint: $(STAMP)
	$(PY) -m ruff check pyro_drpm tests tutorials benchmarks
	$(PY) -m ruff format --check pyro_drpm tests tutorials benchmarks

format: $(STAMP)
	$(PY) -m ruff check --fix pyro_drpm tests tutorials benchmarks
	$(PY) -m ruff format pyro_drpm tests tutorials benchmarks

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(OUTPUT) .pytest_cache .ruff_cache
