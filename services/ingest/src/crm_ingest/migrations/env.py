from crm_common.migrations import run_env
from crm_ingest.tables import metadata

run_env(metadata)
