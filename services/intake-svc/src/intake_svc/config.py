import ipaddress

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from crm_runtime.settings import ServiceSettings
from intake_svc.domain.channel_keys import MAX_GRACE_S


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    service_name: str = "intake-svc"
    http_port: int = 8001
    database_url: str = "postgresql+asyncpg://crm:crm@127.0.0.1:5432/intake"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Connections to Redis; a request finding none free waits up to the timeout for one (then 503)
    # instead of failing at once: a burst queues here rather than erroring.
    redis_max_connections: int = 64
    redis_pool_timeout_s: float = 5.0
    idempotency_ttl_s: int = 24 * 3600
    channel_rate_limit_per_minute: int | None = None  # default per channel (None: none); a channel may set its own
    address_rate_limit_per_minute: int = 120  # per client address on web and portal channels
    max_body_bytes: int = 256 * 1024
    max_import_bytes: int = 200 * 1024 * 1024
    import_lease_s: int = 15
    import_chunk_rows: int = 500
    import_max_rows: int = Field(default=1_000_000, ge=1, description="Data rows an import file may have (blank ones included).")
    import_max_columns: int = Field(default=200, ge=1, description="Columns an import file may have.")
    import_max_cell_chars: int = Field(default=32 * 1024, ge=1, description="Characters in one cell (CSV cells never over 131,072).")
    import_max_uncompressed_bytes: int = Field(default=500 * 1024 * 1024, ge=1, description="What an XLSX may unpack to, in all.")
    import_max_compression_ratio: float = Field(default=100.0, gt=1, description="Unpacked / packed size an XLSX may have.")
    import_max_attempts: int = Field(default=3, ge=1, description="Failed tries at the same chunk before a job ends `failed`.")
    customer_url: str = "http://127.0.0.1:8003"  # customer-svc: the custom field definitions API and import leads are checked against
    field_definitions_ttl_s: float = 30.0
    channel_key_grace_s: int = Field(
        default=24 * 3600,
        ge=0,
        le=MAX_GRACE_S,
        description="How long a channel's previous key keeps working after a rotation unless the rotation says (seconds, at most 30 days).",
    )
    key_failure_limit: int = Field(
        default=30, ge=1, description="Failed channel-key attempts a client address may make per window before it gets 429."
    )
    key_failure_window_s: int = Field(default=60, ge=1, description="The window of `key_failure_limit`, in seconds.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description=(
            "Addresses or CIDRs of the proxies in front of intake (e.g. the ingress). X-Forwarded-For is read only from them"
            " (right-most address that is not one of them); empty: never read, the peer's address is the client's."
        ),
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is neither an IP address nor a CIDR") from None
        return value
