#!/usr/bin/env bash
# Run a command with Kafka and PostgreSQL available. If our local stack's engines
# were not both running, start them and stop them again afterwards; a running
# `make up` stack is used as it is and left alone. With CRM_TEST_KAFKA_BOOTSTRAP
# and CRM_TEST_POSTGRES_URL set (external engines), nothing is started.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${PYTHON:-python3} -m uv run --frozen"
started=0
if [[ -z "${CRM_TEST_KAFKA_BOOTSTRAP:-}" ]]; then
  if ! $RUN python -m crm_localstack.running; then started=1; fi
  $RUN crm-stack infra
fi
cleanup() { if [[ $started == 1 ]]; then $RUN crm-stack infra-down || true; fi; }
trap cleanup EXIT
"$@"
