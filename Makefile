# Two entry points (see README): `make demo` runs the end-to-end job on the bundled
# synthetic data, `make test` runs the test suite. Both create .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.hotline-installed
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install test-deps demo test test-slow lint format bench clean wheelhouse

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# Without an NVIDIA GPU, take the CPU build of torch first so that resolving
	@# `torch>=2.4` later never downloads a multi-GB CUDA build.
	@if ! (command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1); then \
	  $(PY) -m pip install --disable-pip-version-check -q "torch==2.13.0"; \
	fi
	$(PY) -m pip install --disable-pip-version-check -q -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hotline demo --workdir artifacts/demo

# System packages the tests use: a PostgreSQL server (the store tests start a throw-away
# cluster) and Chromium (the dashboard's browser tests). Installed with apt where we may (root on
# Debian/Ubuntu); elsewhere those tests skip with a reason, or fail under CI.
test-deps:
	@missing=""; \
	if [ -z "$${HOTLINE_TEST_POSTGRES_URL:-}" ] && ! command -v initdb >/dev/null 2>&1 \
	    && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then missing="$$missing postgresql"; fi; \
	if ! command -v chromium >/dev/null 2>&1; then missing="$$missing chromium"; fi; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing (apt)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "not installed:$$missing (the tests that need them will skip)"; fi; \
	fi

test: $(STAMP) test-deps
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

test-slow: $(STAMP) test-deps
	$(PY) -m pytest -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Offline install kit for an intranet (docs/install.md). Run on a machine with internet (or a
# PyPI mirror), same OS, CPU architecture and Python minor version as the intranet hosts. `pip
# wheel` rather than `pip download`: some pinned packages (jieba) ship only a source archive,
# built into a wheel here so the intranet hosts build nothing. torch comes from the CPU index
# (PyPI's Linux wheel is the CUDA build); every other pin from the default index, without
# dependencies because requirements/constraints.txt already lists the whole closure.
WHEELHOUSE ?= wheelhouse
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# GPU hosts: TORCH_INDEX=https://download.pytorch.org/whl/cu128 TORCH_DEPS= (the nvidia-* wheels
# are torch dependencies that the constraints file does not list)
TORCH_DEPS ?= --no-deps
wheelhouse:
	$(PYTHON) -m pip wheel $(TORCH_DEPS) -w $(WHEELHOUSE) --index-url $(TORCH_INDEX) "torch==2.13.0"
	grep -v '^torch==' requirements/constraints.txt > $(WHEELHOUSE)/.pins.txt
	$(PYTHON) -m pip wheel --no-deps -w $(WHEELHOUSE) -r $(WHEELHOUSE)/.pins.txt
	@# build backend of `pip install .` on the intranet (pyproject.toml [build-system])
	$(PYTHON) -m pip download -d $(WHEELHOUSE) "setuptools>=69" wheel
	$(PYTHON) -m pip wheel --no-deps -w $(WHEELHOUSE) .
	cp requirements/constraints.txt $(WHEELHOUSE)/
	rm $(WHEELHOUSE)/.pins.txt

clean:
	rm -rf $(VENV) artifacts .pytest_cache .ruff_cache *.egg-info
