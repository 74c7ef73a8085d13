from crm_common.migrations import run_env
from crm_profile.tables import metadata

run_env(metadata)
