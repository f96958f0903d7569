from pydantic_settings import SettingsConfigDict

from crm_runtime.settings import ServiceSettings


class AllocationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ALLOCATION_", extra="ignore")

    service_name: str = "allocation-svc"
    http_port: int = 8004
    database_url: str = "postgresql+asyncpg://crm:crm@127.0.0.1:5432/allocation"
