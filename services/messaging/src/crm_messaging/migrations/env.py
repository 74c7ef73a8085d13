from crm_common.migrations import run_env
from crm_messaging.tables import metadata
from crm_messaging.tables_campaigns import CAMPAIGN_TABLES  # noqa: F401  (registers them)

run_env(metadata)
