# Weekly improvement pipeline: local cloud, demo, tests.
VENV   ?= .venv
PY     := $(VENV)/bin/python
# the stamp names a hash of both files: editing either reinstalls
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
# workflow and Terraform linters (actionlint, zizmor, checkov): their own venv, their pins conflict
TOOLS_VENV  ?= .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed-$(shell sha1sum requirements-tools.txt | cut -c1-12)

.PHONY: install tools up down status demo run test test-unit perf bench clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

tools: $(TOOLS_STAMP)  ## linters for .github/workflows and terraform/ (tests/test_workflows.py runs them)

$(TOOLS_STAMP): requirements-tools.txt
	python3 -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install --quiet -r requirements-tools.txt
	rm -f $(TOOLS_VENV)/.installed-* && touch $(TOOLS_STAMP)

up: install          ## start emulators + functions; env in .local/stack.env; DATA=demo: offline demo data
	$(PY) -m infra.local_stack up $(if $(DATA),--data $(DATA))

down:                ## stop everything `make up` started
	@if [ -x $(PY) ]; then $(PY) -m infra.local_stack down; else echo "no venv: nothing to stop"; fi

status: install
	$(PY) -m infra.local_stack status

demo: install        ## offline weekly cycle on demo data; report copy in .local/reports/
	$(PY) -m infra.demo

run: install         ## weekly cycle against the live OpenRouter API
	$(PY) -m infra.demo --live

test: install tools  ## unit + integration + end-to-end (starts and stops its own local cloud)
	$(PY) -m pytest

test-unit: install
	$(PY) -m pytest -m "not emulators"

perf: install        ## performance and quality figures (see "Performance and quality figures" in README.md)
	$(PY) -m perf.catalog_sync
	$(PY) perf/import_time.py
	$(PY) -m perf.research_scan
	$(PY) -m perf.relevance_precision
	$(PY) -m perf.relevance_precision --labels tests/fixtures/research/relevance_heldout.jsonl
	$(PY) -m perf.research_relevance_cost
	$(PY) -m perf.research_judge --real tune
	$(PY) -m perf.research_judge --real heldout
	$(PY) -m perf.bench_throughput
	$(PY) -m perf.scorer_adversary
	$(PY) -m perf.unreachable_backend
	$(PY) -m perf.planning
	$(PY) -m perf.report_render
	$(PY) -m perf.drift_check
	$(PY) -m perf.catalog_api

bench: perf          ## old name of `make perf`

clean: down
	rm -rf .local $(VENV) $(TOOLS_VENV)
