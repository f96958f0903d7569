from pydantic import Field
from pydantic_settings import SettingsConfigDict

from crm_runtime.settings import ServiceSettings


class TimelineSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TIMELINE_", extra="ignore")

    service_name: str = "timeline-svc"
    http_port: int = 8005
    database_url: str = "postgresql+asyncpg://crm:crm@127.0.0.1:5432/timeline"
    customer_url: str = Field(
        default="http://127.0.0.1:8003",
        description="customer-svc, asked whether a card timeline-svc has not heard of yet exists in a workspace.",
    )
    customer_timeout_s: float = Field(default=2.0, gt=0, description="How long one question to customer-svc may take.")
    customer_cache_s: float = Field(default=60.0, ge=0, description="How long a process remembers that customer-svc confirmed a card.")
