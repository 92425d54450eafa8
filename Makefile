# Each target creates .venv from requirements.txt first if needed (or if requirements.txt changed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
ARGS ?=

SUBMISSIONS ?=
GRADEBOOK ?= grades.csv

.PHONY: lab test grade notebooks exercises release clean

$(READY): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	touch $(READY)

## make lab: open JupyterLab on the notebooks
lab: $(READY)
	$(BIN)/jupyter lab $(ARGS)

## make test: re-run the solution notebooks (nbval) and run tests/
test: $(READY)
	$(BIN)/pytest --nbval $(ARGS)

## make grade SUBMISSIONS=DIR: grade a class, write grades.csv (README: Grading a class)
grade: $(READY)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=DIR [GRADEBOOK=grades.csv]"; exit 2; }
	$(BIN)/pytest --submissions "$(SUBMISSIONS)" --gradebook "$(GRADEBOOK)" $(ARGS)

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
	rm -rf $(VENV) .pytest_cache
