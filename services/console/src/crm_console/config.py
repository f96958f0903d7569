"""The console's settings (`CONSOLE_` variables). It owns no database: its state is the
signed-in sessions, kept in Redis, and what it reads from the five services and the public topics."""

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from crm_runtime.settings import ProcessSettings


class ConsoleSettings(ProcessSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore")

    service_name: str = "console"
    http_port: int = 8000
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The address people open, as the identity provider knows it (redirect URIs are built from it).",
    )
    oidc_public_issuer: str | None = Field(
        default=None,
        description="The issuer as browsers reach it when it differs from `oidc_issuer` (the address the console itself uses).",
    )
    oidc_console_client_id: str = Field(default="crm-console", description="The console's public client (authorization code + PKCE S256).")
    oidc_scopes: str = "openid profile email"
    redis_url: str = Field(default="redis://127.0.0.1:6379/3", description="Where the signed-in sessions (and their tokens) are kept.")
    session_idle_s: int = Field(default=8 * 3600, ge=60, description="A session unused this long is forgotten (sign in again).")
    login_wait_s: int = Field(default=600, ge=30, description="How long a started sign-in (state, PKCE verifier) waits for its callback.")
    cookie_secure: bool | None = Field(default=None, description="Cookies only over HTTPS; unset: on except in development.")
    intake_url: str = "http://127.0.0.1:8001"
    dedup_url: str = "http://127.0.0.1:8002"
    customer_url: str = "http://127.0.0.1:8003"
    allocation_url: str = "http://127.0.0.1:8004"
    timeline_url: str = "http://127.0.0.1:8005"
    api_timeout_s: float = Field(default=10.0, gt=0, description="How long one call to a service may take.")
    assets_dir: str = Field(
        default="",
        description="The folder holding htmx and its SSE extension (fetched at install time, `scripts/console-assets.sh`); unset: "
        "the installer's cache folder.",
    )
    live_events: bool = Field(default=True, description="Read the public topics and push what concerns them to open pages.")
    default_language: str = Field(default="he", pattern="^(he|en)$")

    @model_validator(mode="after")
    def _secure_cookies(self) -> Self:
        if self.cookie_secure is None:
            self.cookie_secure = self.environment != "development"
        return self

    @property
    def browser_issuer(self) -> str:
        return self.oidc_public_issuer or self.oidc_issuer

    def service_url(self, service: str) -> str:
        urls = {
            "intake": self.intake_url,
            "dedup": self.dedup_url,
            "customer": self.customer_url,
            "allocation": self.allocation_url,
            "timeline": self.timeline_url,
        }
        return urls[service]
