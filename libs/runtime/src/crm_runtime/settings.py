"""Base settings. Each service subclasses `ServiceSettings` with its own env prefix (e.g. `INTAKE_`);
a process without a database, consumers or an outbox of its own (the console) subclasses
`ProcessSettings`, what every process of the suite has: its name and environment, its HTTP
listener, its broker principal, the issuer whose tokens it trusts, the topic namespace.

Outside `development` a service refuses to start with the development credentials: the
database URL must be given and must not carry the development user and password (`crm:crm`,
what scripts/infra.sh and docker-compose.yml use), and every Redis URL (a setting named
`redis_url` or ending in `_redis_url`) must carry a password. Each refusal names the setting.
"""

from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENVIRONMENTS = ("development", "staging", "production")
# The development database user and password (scripts/infra.sh, docker-compose.yml).
DEVELOPMENT_CREDENTIALS = ("crm", "crm")
# Unless set, a service serves /metrics on its HTTP port + this (8001 → 9001).
METRICS_PORT_OFFSET = 1000


def _has_credentials(url: str, user: str, password: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.username == user and parts.password == password
    except ValueError:
        return False


class ProcessSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    service_name: str
    environment: str = Field(
        default="development",
        description=(
            "`development`, `staging` or `production`; only `development` allows the built-in dev credentials "
            "and a Redis without a password."
        ),
    )
    http_host: str = "127.0.0.1"
    http_port: int
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = Field(
        default="SASL_PLAINTEXT",
        description="How every Kafka client of the service connects: `SASL_SSL` on a platform broker (Strimzi), `SASL_PLAINTEXT` locally.",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = Field(default="", description="The service's broker principal; defaults to the service name.")
    kafka_sasl_password: str = Field(
        default="", description="The principal's password (a Secret); in development defaults to `dev-<service>-kafka`."
    )
    kafka_ssl_cafile: str | None = Field(default=None, description="CA bundle that signed the broker's certificate (`SASL_SSL`, `SSL`).")
    oidc_issuer: str = Field(
        default="http://127.0.0.1:8180/realms/crm",
        description="The issuer URL exactly as tokens carry it in `iss`; any OpenID Connect provider (local: Keycloak's `crm` realm).",
    )
    oidc_audience: str = Field(default="crm-api", description="Tokens whose `aud` lacks this are refused.")
    oidc_jwks_url: str | None = Field(
        default=None, description="The issuer's JWKS URL; unset: discovered from `<issuer>/.well-known/openid-configuration`."
    )
    oidc_clock_skew_s: float = Field(default=30.0, ge=0, le=300, description="Tolerance for `exp`, `nbf` and `iat`.")
    topic_namespace: str = Field(default="", description="Prefix for every topic name (test isolation only; empty in production).")
    http_keep_alive_s: int = 75  # longer than clients' and proxies' idle timeouts: no reuse race
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description=(
            "Port of the Prometheus `/metrics` endpoint, served apart from the API (on `http_host`); unset: the HTTP port + 1000 "
            "(8001 → 9001), 0 disables it. Scraped from inside the cluster only: never publish it."
        ),
    )
    log_level: str = "INFO"

    @property
    def short_name(self) -> str:
        """`intake-svc` → `intake` (the development secrets are named after it)."""
        return self.service_name.removesuffix("-svc")

    @model_validator(mode="after")
    def _own_principal(self) -> Self:
        """The broker principal defaults to the process's name; its password has a development
        default only in development (refused below otherwise)."""
        if not self.kafka_sasl_username:
            self.kafka_sasl_username = self.service_name
        if self.environment == "development":
            self.kafka_sasl_password = self.kafka_sasl_password or f"dev-{self.short_name}-kafka"
        return self

    @model_validator(mode="after")
    def _metrics_port(self) -> Self:
        """Resolve the default of `metrics_port` (HTTP port + 1000; none with an ephemeral HTTP
        port); 0 means no metrics server."""
        if self.metrics_port is None:
            derived = self.http_port + METRICS_PORT_OFFSET if self.http_port else 0
            self.metrics_port = derived if derived <= 65535 else 0
        if self.metrics_port and self.metrics_port == self.http_port:
            raise ValueError(f"{self.env_name('metrics_port')} must differ from {self.env_name('http_port')}")
        return self

    @classmethod
    def env_name(cls, setting: str) -> str:
        """The variable a setting is read from: `database_url` → `INTAKE_DATABASE_URL`."""
        return str(cls.model_config.get("env_prefix", "")) + setting.upper()

    @field_validator("environment")
    @classmethod
    def _known_environment(cls, name: str) -> str:
        if name not in ENVIRONMENTS:
            raise ValueError(f"{cls.env_name('environment')} must be one of {', '.join(ENVIRONMENTS)}, not {name!r}")
        return name

    def refuse_development_secrets(self) -> None:
        """Outside development: no development secret, the broker password and the issuer given,
        every Redis URL with a password. Each refusal names the variable."""
        where = f"when {self.env_name('environment')} is {self.environment!r}"
        for name in self.secret_settings():
            secret = getattr(self, name)
            if secret.startswith("dev-"):
                raise ValueError(f"{self.env_name(name)} is a development secret; give the real one {where}")
        if self.kafka_security_protocol.startswith("SASL") and not self.kafka_sasl_password:
            raise ValueError(f"{self.env_name('kafka_sasl_password')} must be set {where}")
        if "oidc_issuer" not in self.model_fields_set:
            raise ValueError(f"{self.env_name('oidc_issuer')} must be set {where}")
        for name in type(self).model_fields:
            if name == "redis_url" or name.endswith("_redis_url"):
                url: Any = getattr(self, name)
                if isinstance(url, str) and url and not urlsplit(url).password:
                    raise ValueError(f"{self.env_name(name)} must carry a password (redis://:<password>@host:6379/0) {where}")

    def secret_settings(self) -> tuple[str, ...]:
        return ("kafka_sasl_password",)

    @model_validator(mode="after")
    def _no_development_credentials(self) -> Self:
        if self.environment != "development":
            self.refuse_development_secrets()
        return self

    def topic(self, name: str) -> str:
        return self.topic_namespace + name


class ServiceSettings(ProcessSettings):
    """A service: its own database, consumers, outbox relay and client-credentials identity.

    Outside `development` a service refuses to start with the development credentials: the
    database URL must be given and must not carry the development user and password (`crm:crm`,
    what scripts/infra.sh and docker-compose.yml use), besides the refusals of every process."""

    shutdown_grace_s: float = 20.0
    database_url: str
    database_pool_size: int = 10
    oidc_client_id: str = Field(default="", description="This service's own client (client credentials); defaults to the service name.")
    oidc_client_secret: str = Field(
        default="", description="The client's secret (a Secret); in development defaults to `dev-<service>-secret` (the local realm's)."
    )
    service_clients: list[str] = Field(
        default_factory=list,
        description=(
            "Client ids (`azp`) of the services allowed to call this one as themselves, in any workspace they name with "
            "`X-Workspace`; every other caller is a user and needs a membership."
        ),
    )
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
    run_access_feed: bool = Field(
        default=True, description="Read the memberships topic into the access cache (off only in tools and tests)."
    )
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
    schema_wait_s: float = Field(
        default=120.0, ge=0, description="`serve` waits this long for the database to reach the code's migration head, then exits."
    )
    api_docs: bool | None = Field(
        default=None,
        description="Serve `/docs` (Swagger UI, assets from the image) and `/openapi.json`; unset: on except in `production`.",
    )
    http_tracing: bool = Field(default=True, description="FastAPI server spans (≈ 1/3 of intake's throughput at full load).")
    trace_sample_ratio: float = Field(default=0.05, ge=0, le=1, description="Share of new traces recorded (children follow the parent).")
    otlp_traces_endpoint: str | None = Field(default=None, description="OTLP/HTTP traces endpoint; unset: spans are not exported.")

    @model_validator(mode="after")
    def _own_client(self) -> Self:
        """The OIDC client defaults to the service's name; its secret has a development default
        only in development."""
        if not self.oidc_client_id:
            self.oidc_client_id = self.service_name
        if self.environment == "development":
            self.oidc_client_secret = self.oidc_client_secret or f"dev-{self.short_name}-secret"
        return self

    @model_validator(mode="after")
    def _api_docs(self) -> Self:
        """`api_docs` unset: on except in production."""
        if self.api_docs is None:
            self.api_docs = self.environment != "production"
        return self

    @field_validator("database_url")
    @classmethod
    def _asyncpg_driver(cls, url: str) -> str:
        """Accept the plain `postgresql://` URIs that operators hand out (e.g. CloudNativePG's `uri`)."""
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+asyncpg://" + url.removeprefix(plain)
        return url

    def secret_settings(self) -> tuple[str, ...]:
        return ("oidc_client_secret", "kafka_sasl_password")

    def refuse_development_secrets(self) -> None:
        where = f"when {self.env_name('environment')} is {self.environment!r}"
        database = self.env_name("database_url")
        if "database_url" not in self.model_fields_set:
            raise ValueError(f"{database} must be set {where}")
        default = type(self).model_fields["database_url"].default
        if self.database_url == self._asyncpg_driver(str(default)) or _has_credentials(self.database_url, *DEVELOPMENT_CREDENTIALS):
            raise ValueError(f"{database} carries the development credentials; give the database's own {where}")
        super().refuse_development_secrets()

    @property
    def consumer_group(self) -> str:
        return self.group_id or self.service_name
