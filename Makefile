# The two commands of the README: `make demo` and `make test`. Both set everything up from nothing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: test demo lint setup clean chromium

setup: $(STAMP)

# torch==2.13.0 first: it is a CPU wheel on this machine's disk, whereas a bare `torch`
# requirement could pull a multi-GB CUDA build. The stamp skips the install when nothing changed.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# The app's browser test drives Debian's headless Chromium (never a downloaded browser).
chromium:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

test: $(STAMP) chromium
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

# DEMO_ARGS passes options through, e.g. make demo DEMO_ARGS="--port 8765"
demo: $(STAMP)
	$(VENV)/bin/lwb demo $(DEMO_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache runs data
