"""Exit 0 when our Kafka and PostgreSQL both run (used by scripts/with-infra.sh)."""

import sys

from crm_localstack import kafka, postgres
from crm_localstack.paths import paths

p = paths()
sys.exit(0 if p.pg_data.exists() and kafka.is_running(p) and postgres.is_running(p) else 1)
