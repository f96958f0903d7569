"""Every variable the manifests and the compose file set is a setting of that service, and every setting is covered.

"Covered" means set for the container, or listed in the service's config.env as deliberately
unset (its default is "unset"). A setting added to a settings class without a place in the
deployment, or a variable nothing reads (a typo, a removed setting), fails here.
"""

from pathlib import Path
from typing import Any

import pytest

from crm_devtools.deploy import settings_env
from crm_devtools.deploy.plan import SERVICES, Service

from .conftest import OVERLAYS, REPO, objects

pytestmark = pytest.mark.deploy


def _fields(svc: Service) -> set[str]:
    return {svc.env(name) for name in svc.settings.model_fields}


def _declared_unset(svc: Service) -> set[str]:
    _, unset = settings_env.parse((REPO / "deploy" / "k8s" / "base" / svc.name / "config.env").read_text())
    return unset


def _check(svc: Service, where: str, names: set[str]) -> None:
    unknown = names - _fields(svc)
    assert unknown == set(), f"{where} sets what {svc.settings.__name__} does not read"
    uncovered = _fields(svc) - names - _declared_unset(svc)
    assert uncovered == set(), f"{where} leaves settings of {svc.settings.__name__} out"


def _pod_env(container: dict[str, Any], config_maps: dict[str, dict[str, Any]]) -> set[str]:
    names = {e["name"] for e in container.get("env", [])}
    for source in container.get("envFrom", []):
        names |= set(config_maps[source["configMapRef"]["name"]]["data"])
    return names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_workloads(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    docs = rendered[overlay]
    config_maps = objects(docs, "ConfigMap")
    workloads = {**objects(docs, "Deployment"), **objects(docs, "Job")}
    checked = 0
    for svc in SERVICES:
        for name, workload in workloads.items():
            if workload["metadata"]["labels"].get("app.kubernetes.io/name") == svc.name:
                for container in workload["spec"]["template"]["spec"]["containers"]:
                    _check(svc, f"{overlay}: {name}", _pod_env(container, config_maps))
                    checked += 1
    assert checked == sum(len(svc.roles) for svc in SERVICES) == 4 * (len(SERVICES) - 1) + 1  # the console: api only


def test_compose_services(compose_config: dict[str, Any]) -> None:
    checked = 0
    for svc in SERVICES:
        for name, container in compose_config["services"].items():
            if container.get("image", "").startswith(f"crm/{svc.name}:"):
                _check(svc, f"docker-compose.yml: {name}", set(container.get("environment") or {}))
                checked += 1
    # migrate, service, relay; the console alone; customer-svc's members grant
    assert checked == sum(3 if svc.owns_database else 1 for svc in SERVICES) + 1


def test_each_config_env_lists_every_setting_once(tmp_path: Path) -> None:
    for svc in SERVICES:
        text = (REPO / "deploy" / "k8s" / "base" / svc.name / "config.env").read_text()
        values, unset = settings_env.parse(text)
        assert set(values) | unset == _fields(svc) and not set(values) & unset
        # Only settings with an "unset" default, or read from a Secret, may be left unset.
        secrets = {svc.env(s) for s in settings_env.secret_settings(svc)}
        optional = {svc.env(n) for n, f in svc.settings.model_fields.items() if f.default is None}
        assert unset <= secrets | optional


def test_a_stray_variable_is_caught() -> None:
    svc = SERVICES[0]
    with pytest.raises(AssertionError, match="does not read"):
        _check(svc, "example", _fields(svc) | {svc.env("databse_url")})
    with pytest.raises(AssertionError, match="leaves settings"):
        _check(svc, "example", _fields(svc) - {svc.env("log_level")})
