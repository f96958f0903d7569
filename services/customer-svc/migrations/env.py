from crm_runtime.migrations import run_env
from customer_svc.adapters.tables import metadata

run_env(metadata)
