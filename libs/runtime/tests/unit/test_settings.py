import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from crm_runtime.settings import ServiceSettings

pytestmark = pytest.mark.unit


class ExampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLE_", extra="ignore")

    service_name: str = "example-svc"
    http_port: int = 8999
    database_url: str = "postgresql+asyncpg://crm:crm@127.0.0.1:5432/example"


@pytest.mark.parametrize("given", ["postgresql://app:pw@db:5432/app", "postgres://app:pw@db:5432/app"])
def test_operator_uris_get_the_async_driver(given: str) -> None:
    assert ExampleSettings(database_url=given).database_url == "postgresql+asyncpg://app:pw@db:5432/app"


def test_a_driver_url_is_kept() -> None:
    url = "postgresql+asyncpg://app:pw@db:5432/app"
    assert ExampleSettings(database_url=url).database_url == url


def test_development_may_use_the_built_in_database_url() -> None:
    assert ExampleSettings().database_url.endswith("/example")


def test_outside_development_the_database_url_must_be_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="EXAMPLE_DATABASE_URL must be set"):
        ExampleSettings()
    monkeypatch.setenv("EXAMPLE_DATABASE_URL", "postgresql://app:pw@db/app")
    assert ExampleSettings().database_url == "postgresql+asyncpg://app:pw@db/app"
