# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv on first use and installs what it needs; running them again reuses it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: demo test bench lint clean

$(VENV)/.ato-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[plot]'  # the demo's report draws its curves with matplotlib
	touch $@

# torch is an optional extra; the test suite uses it. Pin the CPU build before the project.
$(VENV)/.ato-test-installed: $(VENV)/.ato-installed
	$(PIP) torch==2.13.0
	$(PIP) -e '.[test]'
	touch $@

demo: $(VENV)/.ato-installed
	PATH="$(abspath $(VENV))/bin:$$PATH" bash examples/demo.sh

# The layer contracts (pyproject.toml [tool.importlinter]) first, then the suite on every core.
# The real ato 2.1.7 (its own environment) writes the databases that `ato import` is tested on.
test: $(VENV)/.ato-test-installed $(VENV)-ref/.installed
	$(VENV)/bin/lint-imports --no-cache
	ATO_REFERENCE_PYTHON=$(abspath $(VENV)-ref)/bin/python $(PY) -m pytest -n auto

# The reference ato 2.1.7 runs beside Ato in its own environment (benchmarks, import tests).
$(VENV)-ref/.installed:
	$(PYTHON) -m venv $(VENV)-ref
	$(VENV)-ref/bin/python -m pip install --quiet --disable-pip-version-check ato==2.1.7
	touch $@

$(VENV)/.ato-bench-installed: $(VENV)/.ato-test-installed
	$(PIP) -e '.[test,bench]'
	touch $@

bench: $(VENV)/.ato-bench-installed $(VENV)-ref/.installed
	for script in bench/[!_]*.py; do echo "== $$script"; ATO_REFERENCE_PYTHON=$(abspath $(VENV)-ref)/bin/python $(PY) $$script; done

lint: $(VENV)/.ato-test-installed
	$(PIP) mypy ruff
	$(VENV)/bin/ruff check ato tests bench --select E,F,W,I --ignore E501,E225
	$(VENV)/bin/mypy ato --ignore-missing-imports

clean:
	rm -rf $(VENV) $(VENV)-ref demo-run .pytest_cache .hypothesis
