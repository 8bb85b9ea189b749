# Two commands are the whole set-up: `make demo` and `make test`.
# Each builds .venv from pyproject.toml the first time (and again when it changes).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean book browser

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tinyunet demo --out runs/demo

test: $(STAMP) browser
	$(PY) -m pytest

# the book: every chapter executed in full, the reading view, one static site in book/_build/
book: $(STAMP)
	$(PY) -m book.build

# the book's browser test drives Debian's Chromium: install it when it is missing
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver; }

lint: $(STAMP)
	$(VENV)/bin/ruff check tinyunet tests benchmarks book tutorials

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache book/_build
