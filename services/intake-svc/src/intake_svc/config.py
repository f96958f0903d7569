from pydantic_settings import SettingsConfigDict

from crm_runtime.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    service_name: str = "intake-svc"
    http_port: int = 8001
    database_url: str = "postgresql+asyncpg://crm:crm@127.0.0.1:5432/intake"
    redis_url: str = "redis://127.0.0.1:6379/0"
    idempotency_ttl_s: int = 24 * 3600
    channel_rate_limit_per_minute: int | None = None  # default per channel (None: none); a channel may set its own
    address_rate_limit_per_minute: int = 120  # per client address on web and portal channels
    max_body_bytes: int = 256 * 1024
    max_import_bytes: int = 200 * 1024 * 1024
    import_lease_s: int = 15
    import_chunk_rows: int = 500
    customer_url: str = "http://127.0.0.1:8003"  # customer-svc: the custom field definitions API and import leads are checked against
    field_definitions_ttl_s: float = 30.0
