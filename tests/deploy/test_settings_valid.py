"""Every container the overlays and the compose file run starts with valid settings: the
environment name is a known one, and development credentials (the built-in database user,
a Redis without a password) appear only where the environment is `development`."""

import base64
import os
from typing import Any

import pytest

from crm_devtools.deploy import settings_env
from crm_devtools.deploy.plan import SERVICES, Service, service

from .conftest import OVERLAYS, REPO, objects

pytestmark = pytest.mark.deploy

# What the platform puts in Secrets that the overlays do not render (CloudNativePG's generated
# `uri`, a production Redis, a KafkaUser's generated `password`, the issuer's client secret):
# stand-ins of the same form.
PLATFORM_SECRETS = {
    "uri": "postgresql://app:generated-password@{name}-rw:5432/app",
    "url": "redis://:platform-password@redis:6379/0",
    "password": "generated-by-the-user-operator",
    "client-secret": "issued-by-the-platform",
}


def _settings(svc: Service, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    prefix = svc.env("")
    for name in [n for n in os.environ if n.startswith(prefix)]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return svc.settings()


def _secret_value(secrets: dict[str, dict[str, Any]], ref: dict[str, str]) -> str:
    secret = secrets.get(ref["name"])
    if secret is not None:
        if ref["key"] in secret.get("stringData", {}):
            return str(secret["stringData"][ref["key"]])
        return base64.b64decode(secret["data"][ref["key"]]).decode()
    return PLATFORM_SECRETS[ref["key"]].format(name=ref["name"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_containers_start_with_valid_settings(
    rendered: dict[str, list[dict[str, Any]]], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = rendered[overlay]
    config_maps, secrets = objects(docs, "ConfigMap"), objects(docs, "Secret")
    workloads = {**objects(docs, "Deployment"), **objects(docs, "Job")}
    environments = set()
    console_cookies = set()
    for svc in SERVICES:
        for workload in workloads.values():
            if workload["metadata"]["labels"].get("app.kubernetes.io/name") != svc.name:
                continue
            for container in workload["spec"]["template"]["spec"]["containers"]:
                env: dict[str, str] = {}
                for source in container.get("envFrom", []):
                    env.update(config_maps[source["configMapRef"]["name"]]["data"])
                for entry in container.get("env", []):
                    ref = entry.get("valueFrom", {}).get("secretKeyRef")
                    env[entry["name"]] = _secret_value(secrets, ref) if ref else entry["value"]
                settings = _settings(svc, env, monkeypatch)
                environments.add(settings.environment)
                if svc.name == "console":
                    console_cookies.add(settings.cookie_secure)
    assert environments == {"development" if overlay == "dev" else "production"}
    # The session cookie is `Secure` wherever people reach the console over HTTPS (the Ingress);
    # only the port-forwarded dev namespace serves it over plain HTTP.
    assert console_cookies == {overlay != "dev"}


def test_compose_containers_start_with_valid_settings(compose_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for svc in SERVICES:
        for container in compose_config["services"].values():
            if container.get("image", "").startswith(f"crm/{svc.name}:"):
                env = {k: str(v) for k, v in (container.get("environment") or {}).items() if v is not None}
                settings = _settings(svc, env, monkeypatch)
                assert settings.environment == "development"
                if svc.name == "console":  # opened on http://127.0.0.1:8000: a `Secure` cookie would never come back
                    assert settings.cookie_secure is False and settings.public_url.startswith("http://")


def test_the_console_refuses_the_production_settings_without_its_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the ConfigMap alone gives the console in production is not enough: its Redis URL and
    broker password come from Secrets, and starting without them fails, naming the variable."""
    console = service("console")
    values, _ = settings_env.parse((REPO / "deploy" / "k8s" / "base" / "console" / "config.env").read_text())
    with pytest.raises(ValueError, match=console.env("kafka_sasl_password")):
        _settings(console, values, monkeypatch)
    with pytest.raises(ValueError, match=console.env("redis_url")):
        _settings(console, {**values, console.env("kafka_sasl_password"): "generated"}, monkeypatch)
    settings = _settings(
        console,
        {**values, console.env("kafka_sasl_password"): "generated", console.env("redis_url"): PLATFORM_SECRETS["url"]},
        monkeypatch,
    )
    assert settings.cookie_secure is True and settings.public_url.startswith("https://")
