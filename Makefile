# Each target creates .venv from requirements.txt first if needed (or if requirements.txt changed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
ARGS ?=

SUBMISSIONS ?=
GRADEBOOK ?= grades.csv

# JupyterLab refuses to start as root (containers, cloud workspaces) unless told it is on purpose.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
CHROMIUM ?= /usr/bin/chromium

.PHONY: lab test test-browser grade notebooks exercises release clean

$(READY): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	touch $(READY)

## make lab: open JupyterLab on the notebooks
lab: $(READY)
	$(BIN)/jupyter lab $(ALLOW_ROOT) $(ARGS)

## make test: re-run the solution notebooks (nbval) and run tests/, on every CPU (pytest-xdist:
## one worker per CPU, at most 4; each test file and each notebook stays on one worker, so that a
## module's shared grading run is made once and a notebook's cells run in order in one kernel).
## PYTHONDONTWRITEBYTECODE is lifted here: each worker would otherwise rewrite every test module's
## asserts again (3 s of CPU each); the caches go to __pycache__/ (ignored by git).
## tests/no_iri comes first on PYTHONPATH: it hides a module that costs each process reading a
## notebook 1.3 s of CPU and is used by nothing here (tests/no_iri/rfc3987_syntax.py says why).
test: $(READY)
	PYTHONDONTWRITEBYTECODE= PYTHONPATH="$(CURDIR)/tests/no_iri$${PYTHONPATH:+:$$PYTHONPATH}" $(BIN)/pytest --nbval --numprocesses=auto --maxprocesses=4 --dist=loadscope $(ARGS)

## make test-browser: run every notebook in JupyterLab in a headless Chromium (tests/browser/)
$(VENV)/.browser-ready: tests/browser/requirements.txt $(READY)
	$(BIN)/python -m pip install --quiet -r tests/browser/requirements.txt
	touch $@

test-browser: $(VENV)/.browser-ready
	@test -x "$(CHROMIUM)" || { echo "make test-browser needs Chromium at $(CHROMIUM): apt-get install chromium (Debian/Ubuntu), or CHROMIUM=/path/to/chromium"; exit 2; }
	CHROMIUM="$(CHROMIUM)" $(BIN)/pytest -p no:cacheprovider tests/browser $(ARGS)

## make grade SUBMISSIONS=DIR: grade a class, write grades.csv (README: Grading a class).
## pytest exits 1 when a point is lost: that is a normal class, so make grade succeeds; >= 2 is an error.
grade: $(READY)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=DIR [GRADEBOOK=grades.csv]"; exit 2; }
	@echo '$(BIN)/python -m grader "$(SUBMISSIONS)" --gradebook "$(GRADEBOOK)" $(ARGS)'
	@$(BIN)/python -m grader "$(SUBMISSIONS)" --gradebook "$(GRADEBOOK)" $(ARGS); status=$$?; \
	if [ $$status -eq 1 ]; then echo "make grade: some points were lost (see the table); grading worked, gradebook: $(GRADEBOOK)"; exit 0; fi; \
	exit $$status

## make notebooks: re-execute the solution notebooks in place, after editing one
notebooks: $(READY)
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.record_timing=False ex0*.ipynb

## make exercises: regenerate the student edition (exercises/) from the solution notebooks
exercises: $(READY)
	$(BIN)/python -m student_edition

## make release: the students' bundle, dist/neural-networks-day1/ and its zip (README: A release for students)
release: $(READY)
	$(BIN)/python -m student_edition.release --out dist

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info build/browser-screenshots
