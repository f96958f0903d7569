from pydantic import Field
from pydantic_settings import SettingsConfigDict

from crm_runtime.settings import ServiceSettings


class DedupSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEDUP_", extra="ignore")

    service_name: str = "dedup-svc"
    http_port: int = 8002
    database_url: str = "postgresql+asyncpg://crm:crm@127.0.0.1:5432/dedup"
    default_phone_region: str = "IL"
    service_clients: list[str] = Field(
        default_factory=lambda: ["customer-svc"],
        description="Services that may ask `POST /v1/match` as themselves (customer-svc, before a manual create).",
    )
