# Thin aliases for tasks.py, the project's single entry point (it needs only Python; make is optional).
PYTHON ?= python3

.PHONY: run test test-fast lint format bench docs wheel venv clean

run test test-fast lint format bench docs wheel venv:
	$(PYTHON) tasks.py $@

clean:
	rm -rf .venv outputs .pytest_cache .ruff_cache docs/_build build dist
