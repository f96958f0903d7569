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


ISSUER = "https://sso.example.com/realms/crm"


def test_outside_development_the_database_url_must_be_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_ENVIRONMENT", "production")
    monkeypatch.setenv("EXAMPLE_KAFKA_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("EXAMPLE_OIDC_ISSUER", ISSUER)
    with pytest.raises(ValidationError, match="EXAMPLE_DATABASE_URL must be set"):
        ExampleSettings()
    monkeypatch.setenv("EXAMPLE_DATABASE_URL", "postgresql://app:pw@db/app")
    assert ExampleSettings().database_url == "postgresql+asyncpg://app:pw@db/app"


class WithRedis(ExampleSettings):
    redis_url: str = "redis://127.0.0.1:6379/0"


PRODUCTION_DB = "postgresql://app:s3cret@db:5432/app"


@pytest.mark.parametrize("name", ["development", "staging", "production"])
def test_the_known_environments_are_accepted(name: str) -> None:
    settings = WithRedis(
        environment=name, database_url=PRODUCTION_DB, redis_url="redis://:pw@redis:6379/0", oidc_issuer=ISSUER, kafka_sasl_password="s3cret"
    )
    assert settings.environment == name


@pytest.mark.parametrize("name", ["prod", "Production", "dev", "test", ""])
def test_an_unknown_environment_name_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("EXAMPLE_ENVIRONMENT", name)
    with pytest.raises(ValidationError, match=f"EXAMPLE_ENVIRONMENT must be one of development, staging, production, not '{name}'"):
        ExampleSettings()


@pytest.mark.parametrize("environment", ["staging", "production"])
@pytest.mark.parametrize(
    "url",
    [
        "postgresql://crm:crm@db.internal:5432/app",
        "postgresql+asyncpg://crm:crm@127.0.0.1:5432/example",  # the built-in default, given explicitly
        "postgres://crm:crm@10.0.0.7/other",
    ],
)
def test_outside_development_the_development_credentials_are_refused(monkeypatch: pytest.MonkeyPatch, environment: str, url: str) -> None:
    monkeypatch.setenv("EXAMPLE_ENVIRONMENT", environment)
    monkeypatch.setenv("EXAMPLE_DATABASE_URL", url)
    with pytest.raises(ValidationError, match="EXAMPLE_DATABASE_URL carries the development credentials"):
        ExampleSettings()


def test_development_keeps_its_credentials_and_a_redis_without_password() -> None:
    settings = WithRedis(database_url="postgresql://crm:crm@127.0.0.1/example")
    assert settings.environment == "development" and settings.redis_url == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize("redis_url", ["redis://redis:6379/0", "redis://user@redis:6379/0", "rediss://redis:6380/0", "redis://:@redis/0"])
def test_outside_development_a_redis_url_without_password_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("EXAMPLE_ENVIRONMENT", "production")
    monkeypatch.setenv("EXAMPLE_DATABASE_URL", PRODUCTION_DB)
    monkeypatch.setenv("EXAMPLE_OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("EXAMPLE_KAFKA_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("EXAMPLE_REDIS_URL", redis_url)
    with pytest.raises(ValidationError, match=r"EXAMPLE_REDIS_URL must carry a password"):
        WithRedis()
    monkeypatch.setenv("EXAMPLE_REDIS_URL", "rediss://default:pw@redis:6380/0")
    assert WithRedis().redis_url == "rediss://default:pw@redis:6380/0"


# -- identities (issue 16): the service's own principal and client, and their secrets ------------


def test_the_broker_principal_and_the_client_default_to_the_service_name_with_development_secrets() -> None:
    settings = ExampleSettings()
    assert (settings.kafka_sasl_username, settings.oidc_client_id) == ("example-svc", "example-svc")
    assert (settings.kafka_sasl_password, settings.oidc_client_secret) == ("dev-example-kafka", "dev-example-secret")


def test_outside_development_there_are_no_development_secrets_and_the_issuer_must_be_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_ENVIRONMENT", "production")
    monkeypatch.setenv("EXAMPLE_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")  # no broker password needed: see the next test
    monkeypatch.setenv("EXAMPLE_DATABASE_URL", PRODUCTION_DB)
    with pytest.raises(ValidationError, match="EXAMPLE_OIDC_ISSUER must be set"):
        ExampleSettings()
    monkeypatch.setenv("EXAMPLE_OIDC_ISSUER", ISSUER)
    settings = ExampleSettings()
    assert (settings.kafka_sasl_password, settings.oidc_client_secret) == ("", ""), "no development default outside development"
    for name in ("OIDC_CLIENT_SECRET", "KAFKA_SASL_PASSWORD"):
        with monkeypatch.context() as m:
            m.setenv(f"EXAMPLE_{name}", "dev-example-secret")
            with pytest.raises(ValidationError, match=f"EXAMPLE_{name} is a development secret"):
                ExampleSettings()


def test_outside_development_sasl_needs_the_principal_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_ENVIRONMENT", "staging")
    monkeypatch.setenv("EXAMPLE_DATABASE_URL", PRODUCTION_DB)
    monkeypatch.setenv("EXAMPLE_OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("EXAMPLE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ValidationError, match="EXAMPLE_KAFKA_SASL_PASSWORD must be set"):
        ExampleSettings()
    monkeypatch.setenv("EXAMPLE_KAFKA_SASL_PASSWORD", "s3cret")
    assert ExampleSettings().kafka_sasl_password == "s3cret"
