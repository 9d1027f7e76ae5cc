# The README's two commands: `make bench` and `make test`. Both set everything up first.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBS := dataset-fashion-mnist gimp-data opencv-doc chromium

.PHONY: setup prepare bench test docs perf mutate readme

setup: $(VENV)/.installed

$(VENV)/.installed: settings.ini setup.py
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q $$missing >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null; }; \
	  elif command -v sudo >/dev/null; then sudo apt-get install -y -q $$missing >/dev/null || { sudo apt-get update -q >/dev/null && sudo apt-get install -y -q $$missing >/dev/null; }; \
	  else echo "warning: cannot install $$missing (no root, no sudo, or not Debian): line_nb will download Fashion-MNIST and skip the GIMP/OpenCV image sources"; fi; \
	fi
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

# Fill the caches every chapter reads, once, before a class (docs/instructors.md): the Fashion-MNIST CNN, the offline
# OOD sets and their features; then the DenseNet's features when its checkpoint and CIFAR-10 can be found or downloaded.
prepare: setup
	$(BIN)/python -c "from line_nb.features import offline_benchmark; offline_benchmark(progress=True); print('Fashion-MNIST CNN and features: cached')"
	@$(BIN)/python -c "from line_nb.densenet import densenet_benchmark; densenet_benchmark(progress=True); print('DenseNet features: cached')" \
	  || echo "DenseNet features not prepared (see the error above; line-nb data says what is missing): the cells marked densenet will be skipped"

# Train the Fashion-MNIST CNN if it is not cached, extract features, print the OOD table.
bench: setup
	$(BIN)/line-nb bench

# Check that notebooks and library agree, run the notebooks as tests, then pytest. Cells and tests that need data a plain
# clone may lack (the DICE DenseNet checkpoint, CIFAR-10 images) are skipped with one line saying what is missing and how
# to get it (`line-nb data`); where the data are present they run, and a failure in them fails the run.
test: setup
	PATH=$(BIN):$$PATH nbdev_export
	PATH=$(BIN):$$PATH nbdev_clean
	@if [ -n "$$(git status --porcelain -- nbs line_nb 2>/dev/null)" ]; then \
	  echo "nbdev_export / nbdev_clean changed these files: the library and the notebooks are out of sync, or notebooks are not clean"; \
	  git status --porcelain -- nbs line_nb; git diff --stat -- nbs line_nb; exit 1; fi
	$(BIN)/python docs/readme.py --check
	$(BIN)/python docs/results.py --check
	@flags=$$($(BIN)/line-nb data --test-flags) || exit 1; \
	echo "nbdev_test --flags '$$flags' (cells marked with a flag run only when their data are present: line-nb data)"; \
	PATH=$(BIN):$$PATH OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} nbdev_test --n_workers 1 --flags "$$flags"
	$(BIN)/python -m pytest -q -rs tests

# README.md from the home notebook nbs/index.ipynb (nbdev's readme_nb), offline; `make test` fails when they differ.
readme: setup
	$(BIN)/python docs/readme.py

# Render the documentation offline (no Quarto): every notebook with its stored outputs, plus the
# API reference, into docs/_build/html. Nothing is executed. `nbdev_docs` still works with Quarto.
docs: setup
	$(BIN)/sphinx-build -q -b html docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

# LINe's performance measured side by side (bench/perf.py, about 20 minutes on a shared 2-core CPU): prints ratios, writes bench/results/perf.{json,md}.
perf: setup
	$(BIN)/python bench/perf.py

# Mutation testing of LINe's core (actprune, weightprune, clipping, contrib, line, metrics) against the fast tests
# (pyproject.toml, [tool.mutmut]): prints every surviving mutant and the score. About 20 minutes on 2 cores; not part of `make test`.
mutate: setup
	$(BIN)/pip install -q mutmut==3.8.1
	rm -rf mutants
	OMP_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2 > /dev/null || true
	$(BIN)/python tests/mutation_report.py
