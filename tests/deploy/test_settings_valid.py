"""Every container the overlays and the compose file run starts with valid settings: the
environment name is a known one, and development credentials (the built-in database user,
a Redis without a password) appear only where the environment is `development`."""

import base64
import os
from typing import Any

import pytest

from crm_devtools.deploy.plan import SERVICES, Service

from .conftest import OVERLAYS, objects

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
                environments.add(_settings(svc, env, monkeypatch).environment)
    assert environments == {"development" if overlay == "dev" else "production"}


def test_compose_containers_start_with_valid_settings(compose_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for svc in SERVICES:
        for container in compose_config["services"].values():
            if container.get("image", "").startswith(f"crm/{svc.name}:"):
                env = {k: str(v) for k, v in (container.get("environment") or {}).items() if v is not None}
                assert _settings(svc, env, monkeypatch).environment == "development"
