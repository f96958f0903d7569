from pydantic_settings import SettingsConfigDict

from crm_runtime.settings import ServiceSettings


class AllocationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ALLOCATION_", extra="ignore")

    service_name: str = "allocation-svc"
    http_port: int = 8004
    database_url: str = "postgresql+asyncpg://crm:crm@127.0.0.1:5432/allocation"
    # Daily capacities count from midnight in this zone.
    day_timezone: str = "Asia/Jerusalem"
    # How often waiting leads are offered to reps again (away periods end on their own).
    queue_drain_seconds: float = 30.0
    # How long a wizard preview can still be applied.
    preview_ttl_minutes: int = 60
