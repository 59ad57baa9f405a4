# Thin wrapper: every target works on a fresh clone (it creates .venv when missing).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
KERNEL_NAME := Transfer learning (PyTorch + TF)
export TLCOURSE_PROFILE ?= smoke

.PHONY: setup system-deps course test test-fast lab build check lock bench test-gpu hub

$(STAMP): pyproject.toml requirements-lock.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-lock.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@# The course kernel, inside the venv (no user-level files): notebooks name it.
	$(BIN)/python -m ipykernel install --sys-prefix --name tlcourse --display-name "$(KERNEL_NAME)"
	@touch $(STAMP)

setup: $(STAMP)

# The main job: set up, fetch the offline assets, build, run every solution notebook (smoke),
# COURSE_JOBS notebooks at a time. Each part's time is printed: install, fetch, build, notebooks.
COURSE_JOBS ?= 2
course:
	@t=$$(date +%s); $(MAKE) --no-print-directory setup && echo "== install: $$(( $$(date +%s) - t )) s"
	@t=$$(date +%s); $(BIN)/tlcourse fetch && echo "== fetch: $$(( $$(date +%s) - t )) s"
	@t=$$(date +%s); $(BIN)/tlcourse build && echo "== build: $$(( $$(date +%s) - t )) s"
	@t=$$(date +%s); PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/tlcourse run --profile smoke \
	  --jobs $(COURSE_JOBS) && echo "== notebooks: $$(( $$(date +%s) - t )) s"

# Debian packages the tests need (bubblewrap for the grading sandbox, Chromium for the
# browser tests), installed when missing; a clear message where that is impossible.
system-deps:
	bash .ci/system-deps

# The whole test suite (README's test command; .ci/run runs exactly this) on TEST_WORKERS
# pytest-xdist workers, one test module (or notebook) per worker at a time, the long ones
# first (conftest.py). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: setup system-deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -n $(TEST_WORKERS) \
	  --dist loadscope --no-loadscope-reorder

# For contributors: the unit and behaviour tests only, minutes on 2 cores. Nothing that
# grades through nbgrader, drives a browser, starts a hub or executes whole notebooks
# (markers grading, browser, slow; the notebooks/ folder is not collected).
test-fast: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -n $(TEST_WORKERS) \
	  --dist loadscope tests -m "not grading and not browser and not slow"

# JupyterLab, opening on the landing page (a copy in my-work/, never the tracked START_HERE.ipynb);
# your own copies of the notebooks are made first in my-work/. The student's view (default): my-work/
# only, nbgrader's Validate button, no Formgrader or Create Assignment. The instructor's view, the
# whole course and every nbgrader tool: make lab ROLE=instructor. tests/test_browser.py drives both.
# The Hindi edition (root editions/hi/, its Hindi START_HERE): make lab EDITION=hi
# (EDITION, not LANG: LANG is the locale every program here reads.)
EDITION ?=
ROLE ?= student
lab: setup
	$(BIN)/tlcourse lab --role $(ROLE) $(if $(EDITION),--edition $(EDITION)) -- $(LAB_ARGS)

build: setup
	$(BIN)/tlcourse build

# JupyterHub for the course on this machine (127.0.0.1:8000; deploy/jupyterhub/README.md):
# students' servers, the formgrader as a hub service, a shared exchange. Ctrl+C stops it.
# More options: make hub HUB_ARGS="--students alice,bob --port 8010"
hub: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/tlcourse hub $(HUB_ARGS)

check: setup
	$(BIN)/tlcourse build --check

# Every measurement (notebooks, models, data, adversarial, grading, scaling) into
# benchmarks/RESULTS.md + RESULTS.json and README's summary table (about 35 min on 2 cores).
# One part only: make bench BENCH_ARGS=models
bench: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/tlcourse bench $(BENCH_ARGS)

# The solution notebooks under nbval in the full profile (real data, the lesson's
# models), for GPU runners (.github/workflows/gpu.yml); run `tlcourse fetch --profile full` first.
GPU_CELL_TIMEOUT ?= 3600
test-gpu: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" TLCOURSE_PROFILE=full $(BIN)/python -m pytest notebooks \
	  --nbval-cell-timeout=$(GPU_CELL_TIMEOUT)

lock: setup
	{ echo "# Full lock of the course environment (pip freeze on Python 3.11, x86_64)."; \
	  echo "# Regenerate after changing pins in pyproject.toml: make lock"; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^tlcourse'; } > requirements-lock.txt
