from pydantic_settings import SettingsConfigDict

from crm_runtime.settings import ServiceSettings


class TimelineSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TIMELINE_", extra="ignore")

    service_name: str = "timeline-svc"
    http_port: int = 8005
    database_url: str = "postgresql+asyncpg://crm:crm@127.0.0.1:5432/timeline"
