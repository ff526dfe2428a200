# The two commands of the README. Each creates .venv on first use and installs `after` with its dev extras.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The CPU wheel of torch for this kind of machine; GPU users install their own torch before `pip install after`.
TORCH_PIN ?= torch==2.13.0

.PHONY: demo test install clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_PIN)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) -m after.demo

test: install
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
