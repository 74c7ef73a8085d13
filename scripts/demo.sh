#!/usr/bin/env bash
# `make demo`: feed a running `make up` stack with a realistic shop (signed Shopify
# webhooks from the load generator), then create console users for that shop.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${PYTHON:-python3} -m uv run --frozen"
PASSWORD="${DEMO_PASSWORD:-demo-password}"
# The admin token `make up` generated (an INGEST_ADMIN_TOKEN already set wins).
if [[ -z "${INGEST_ADMIN_TOKEN:-}" && -f .local/secrets.env ]]; then
  set -a; . ./.local/secrets.env; set +a
fi
out=$($RUN python -m crm_ingest.loadgen --url "http://127.0.0.1:${INGEST_PORT:-8001}" \
  --customers "${DEMO_CUSTOMERS:-400}" --days 365 --seed "${DEMO_SEED:-1}" | tee /dev/stderr)
tenant=$(printf '%s\n' "$out" | sed -n 's/^tenant_id=//p' | tail -1)
for role in admin marketer viewer; do
  DASHBOARD_NEW_USER_PASSWORD="$PASSWORD" $RUN python -m crm_dashboard create-user \
    --tenant "$tenant" --email "$role@demo.example" --role "$role" || true
done
echo
echo "console: http://127.0.0.1:${DASHBOARD_PORT:-8000}  tenant $tenant"
echo "sign in as admin@demo.example, marketer@demo.example or viewer@demo.example, password $PASSWORD"
