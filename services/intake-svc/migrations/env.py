from crm_runtime.migrations import run_env
from intake_svc.adapters.tables import metadata

run_env(metadata)
