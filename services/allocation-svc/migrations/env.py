from allocation_svc.adapters.tables import metadata
from crm_runtime.migrations import run_env

run_env(metadata)
