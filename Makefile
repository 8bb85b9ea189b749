# Two commands are the whole set-up: `make demo` and `make test`.
# Each builds .venv from pyproject.toml the first time (and again when it changes).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The demo needs only the library's own dependencies (no PyTorch, no test tools): a stamp of its
# own, so a fresh clone's `make demo` installs just those, with this Python's pip into a venv
# made without one (seconds saved; an old pip without --python gets the venv its own pip).
# `make test` installs the rest later.
RUNTIME := $(VENV)/.installed-runtime

.PHONY: demo test lint bench clean book browser

$(RUNTIME): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip --python $(PY) install --quiet --no-compile -e . \
		|| { $(PY) -m ensurepip --default-pip && $(PY) -m pip install --quiet -e . ; }
	touch $(RUNTIME)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip --version > /dev/null 2>&1 || $(PY) -m ensurepip --default-pip
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP) $(RUNTIME)

demo: $(RUNTIME)
	$(PY) -m tinyunet demo --out runs/demo

# two worker processes, each taking whole test files (their module fixtures run once)
test: $(STAMP) browser
	$(PY) -m pytest -n 2 --dist loadfile

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
