# The two commands in the README: `make run` (the demo pipeline) and `make test`.
# Each makes the virtualenv on first use and installs exactly requirements.lock (every package
# pinned, every file's sha256 checked), again whenever the lock or pyproject.toml changes.
# `make lock` resolves pyproject.toml's ranges afresh into requirements.lock.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
STAMP := $(VENV)/.installed-stamp
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run test lint lock chromium bench clean

# pip and setuptools come first, from the lock, so that the rest is installed by the locked pip
# and the one source distribution (face-recognition-models) is built by the locked setuptools
# (--no-build-isolation: no unlocked build tools are fetched). The stamp is a copy of the lock
# it installed, so tests/test_lock.py can check the environment against it.
$(STAMP): $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	grep --no-group-separator -A1 -E '^(pip|setuptools)==' $(LOCK) > $(VENV)/bootstrap.lock
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(VENV)/bootstrap.lock
	$(BIN)/python -m pip install --quiet --require-hashes --no-build-isolation -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	cp $(LOCK) $(STAMP)

run: $(STAMP)
	dvc repro
	@echo "Done. The audit: reports/index.html; a message per student: reports/feedback/; the numbers: dvc metrics show; curves: dvc plots show"

test: lint chromium
	pytest

# The report's browser test needs headless Chromium: Debian's packages, installed once when
# missing. Where apt-get is not there or fails, one line says so and the suite skips that test.
CHROMIUM ?= /usr/bin/chromium
APT_GET ?= apt-get
chromium:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if ! command -v $(APT_GET) >/dev/null 2>&1; then \
	  echo "make test: no $(APT_GET) here to install Chromium; the browser test will be skipped"; \
	  exit 0; \
	fi; \
	if [ "$$(id -u)" -ne 0 ]; then sudo="sudo -n"; else sudo=; fi; \
	echo "make test: installing Chromium for the browser test (Debian's chromium, chromium-driver)"; \
	install="$$sudo env DEBIAN_FRONTEND=noninteractive $(APT_GET) -q -y \
	  -o DPkg::Lock::Timeout=600 install --no-install-recommends chromium chromium-driver"; \
	$$install >/dev/null 2>&1 || { $$sudo $(APT_GET) -q update && $$install; } \
	  || echo "make test: $(APT_GET) could not install Chromium; the browser test will be skipped"

lint: $(STAMP)
	ruff check pipeline tests bench tools vendor/vega/build.py data/make_demo.py

lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python tools/lock.py $(LOCK)

clean:
	rm -rf .facedata-cache data/interim data/processed models metrics/details plots/train/metrics.json plots/train/plots/images reports dvc_plots
