# The two commands a newcomer needs: `make demo` and `make test`.
# Each bootstraps what it needs (system packages, .venv from the hashed lock).
PY := .venv/bin/python

.PHONY: demo test lint typecheck check bench lock schema clean

demo:
	@scripts/bootstrap.sh dev
	@$(PY) -m agent demo

test:
	@scripts/bootstrap.sh dev
	@$(PY) -m ruff check agent drivers sync simulators resilience untrusted tests bench scripts
	@$(PY) -m mypy
	@$(PY) -m pytest -q

lint:
	@$(PY) -m ruff check agent drivers sync simulators resilience untrusted tests bench scripts

typecheck:
	@$(PY) -m mypy

bench:
	@scripts/bootstrap.sh dev
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b --quick || exit 1; done

schema:
	@$(PY) -m agent schema --out docs/schema

# Regenerate both locks (needs network access to PyPI).
lock:
	python3 -m venv .lockvenv && .lockvenv/bin/pip install -q uv
	.lockvenv/bin/uv pip compile pyproject.toml --generate-hashes --universal --python-version 3.11 -o locks/runtime.txt
	.lockvenv/bin/uv pip compile pyproject.toml --extra dev --extra backend --generate-hashes --universal --python-version 3.11 -o locks/dev.txt

clean:
	rm -rf .venv .lockvenv .mypy_cache .pytest_cache .ruff_cache
