from pydantic import Field
from pydantic_settings import SettingsConfigDict

from crm_runtime.settings import ServiceSettings


class CustomerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CUSTOMER_", extra="ignore")

    service_name: str = "customer-svc"
    http_port: int = 8003
    database_url: str = "postgresql+asyncpg://crm:crm@127.0.0.1:5432/customer"
    dedup_url: str = Field(default="http://127.0.0.1:8002", description="dedup-svc, asked before a manual create (`POST /v1/match`).")
    dedup_timeout_s: float = 2.0
    default_phone_region: str = Field(default="IL", description="Region for phone numbers typed without a country code.")
    service_clients: list[str] = Field(
        default=["intake-svc", "timeline-svc"],
        description="Services that read field definitions (intake-svc) and cards (timeline-svc) in the workspace they name.",
    )
    field_definitions_ttl_s: float = Field(default=5.0, description="How long a process reuses a workspace's custom field definitions.")
