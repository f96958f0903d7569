"""Base settings. Each service subclasses it with its own env prefix (e.g. `INTAKE_`)."""

from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    service_name: str
    environment: str = Field(default="development", description="`development` allows the built-in dev credentials.")
    http_host: str = "127.0.0.1"
    http_port: int
    database_url: str
    database_pool_size: int = 10
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_namespace: str = Field(default="", description="Prefix for every topic name (test isolation only; empty in production).")
    topic_partitions: int = Field(
        default=6, ge=1, description="Partitions of topics this service creates (`migrate`); caps a consumer group's useful instances."
    )
    topic_replication_factor: int = Field(
        default=1, ge=1, description="Replicas of topics this service creates; 3 on a production cluster."
    )
    create_topics: bool = Field(
        default=True, description="`migrate` creates missing topics; off where topics are managed elsewhere (Strimzi KafkaTopic resources)."
    )
    group_id: str = Field(default="", description="Consumer group; defaults to the service name.")
    run_consumers: bool = True
    run_relay: bool = True
    consumer_max_retries: int = 3
    consumer_retry_backoff_ms: int = 200
    consumer_batch_size: int = 500
    consumer_fetch_max_wait_ms: int = 25
    consumer_fetch_min_bytes: int = 256 * 1024
    consumer_commit_interval_ms: int = 500
    relay_batch_size: int = 500
    relay_idle_sleep_ms: int = 5
    relay_max_idle_ms: int = 250
    relay_linger_ms: int = 5  # after a wake-up, let concurrent commits join the same publish batch
    shutdown_grace_s: float = 20.0
    schema_wait_s: float = Field(
        default=120.0, ge=0, description="`serve` waits this long for the database to reach the code's migration head, then exits."
    )
    http_keep_alive_s: int = 75  # longer than clients' and proxies' idle timeouts: no reuse race
    log_level: str = "INFO"
    http_tracing: bool = Field(default=True, description="FastAPI server spans (≈ 1/3 of intake's throughput at full load).")
    trace_sample_ratio: float = Field(default=0.05, ge=0, le=1, description="Share of new traces recorded (children follow the parent).")
    otlp_traces_endpoint: str | None = Field(default=None, description="OTLP/HTTP traces endpoint; unset: spans are not exported.")

    @field_validator("database_url")
    @classmethod
    def _asyncpg_driver(cls, url: str) -> str:
        """Accept the plain `postgresql://` URIs that operators hand out (e.g. CloudNativePG's `uri`)."""
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+asyncpg://" + url.removeprefix(plain)
        return url

    @model_validator(mode="after")
    def _no_default_credentials(self) -> Self:
        """The built-in database URL carries development credentials: anywhere else it must be given."""
        if self.environment != "development" and "database_url" not in self.model_fields_set:
            prefix = str(self.model_config.get("env_prefix", ""))
            raise ValueError(f"{prefix}DATABASE_URL must be set when {prefix}ENVIRONMENT is {self.environment!r}")
        return self

    def topic(self, name: str) -> str:
        return self.topic_namespace + name

    @property
    def consumer_group(self) -> str:
        return self.group_id or self.service_name
