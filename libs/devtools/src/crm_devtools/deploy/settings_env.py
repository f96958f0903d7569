"""Each service's `config.env`: every setting of its settings class, with the value a cluster runs it with.

The Kubernetes ConfigMap is generated from it and the compose file reads it (overriding the
addresses), so a setting added to a settings class shows up here with its meaning, and one
removed disappears. Settings that come from Secrets, and those whose default is "unset",
appear as comments.
"""

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic.fields import FieldInfo

from crm_devtools.deploy.plan import (
    CONSOLE_ASSETS_DIR,
    KAFKA_BOOTSTRAP,
    KAFKA_CA_FILE,
    OIDC_ISSUER,
    OIDC_SECRET_KEY,
    REDIS_SECRET,
    Service,
    service,
)


@dataclass(frozen=True)
class SecretRef:
    secret: str
    key: str


def secret_settings(svc: Service) -> dict[str, SecretRef]:
    """Settings read from Secrets (never written into git): field -> where."""
    refs: dict[str, SecretRef] = {}
    if svc.owns_database:
        refs["database_url"] = SecretRef(svc.db_secret, "uri")
    # Strimzi's User Operator writes the KafkaUser's password into a Secret of the user's name.
    refs["kafka_sasl_password"] = SecretRef(svc.name, "password")
    if svc.oidc_secret is not None:
        refs["oidc_client_secret"] = SecretRef(svc.oidc_secret, OIDC_SECRET_KEY)
    if svc.uses_redis:
        refs["redis_url"] = SecretRef(REDIS_SECRET, "url")
    return refs


def cluster_values(svc: Service) -> dict[str, object]:
    """Where a cluster differs from the development defaults."""
    values: dict[str, object] = {
        "environment": "production",
        "http_host": "0.0.0.0",
        "kafka_bootstrap_servers": KAFKA_BOOTSTRAP,
    }
    if svc.owns_database:  # topics and a consumer group are a service's; the console has neither
        values["topic_replication_factor"] = 3
        values["create_topics"] = False  # deploy/k8s/base/kafka-topics.yaml: Strimzi creates them
        values["group_id"] = svc.name
    values.update(
        {
            # The broker: TLS (the cluster CA mounted from its Secret) and the service's own KafkaUser.
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_sasl_username": svc.name,
            "kafka_ssl_cafile": KAFKA_CA_FILE,
            # Sign-in: the overlays name the real issuer; the client secret comes from a Secret.
            "oidc_issuer": OIDC_ISSUER,
        }
    )
    if svc.oidc_client:
        values["oidc_client_id"] = svc.name
    # Scraped on its own port, which only the monitoring namespace may reach (0: no /metrics at all).
    values["metrics_port"] = svc.metrics_port
    if svc.public_url:  # the address people open (the Ingress host); sign-in redirects are built from it
        values["public_url"] = svc.public_url
    if "assets_dir" in svc.settings.model_fields:
        values["assets_dir"] = CONSOLE_ASSETS_DIR  # where the image put htmx (services/console/Dockerfile)
    for setting, peer in svc.calls.items():
        values[setting] = f"http://{peer}:{service(peer).port}"
    return values


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, separators=(",", ":"))  # complex settings are read as JSON
    return str(value)


def default(info: FieldInfo) -> Any:
    """A field's default, made by its factory if it has one."""
    return info.get_default(call_default_factory=True)


def render(svc: Service) -> str:
    secrets = secret_settings(svc)
    values = cluster_values(svc)
    lines = [
        f"# {svc.name}: every setting of {svc.settings.__name__}, as a cluster runs it.",
        "# Written by `crm-deploy-files` from the settings class; the Kubernetes ConfigMap is made from",
        "# this file and docker-compose.yml reads it (with its own addresses). Commented lines are",
        '# deliberately unset here: they come from a Secret, or their default is "unset".',
    ]
    for name, info in svc.settings.model_fields.items():
        key = svc.env(name)
        if info.description:
            lines.append(f"# {info.description}")
        if name in secrets:
            ref = secrets[name]
            lines.append(f"# {key}= from Secret {ref.secret}, key {ref.key}")
        elif name in values:
            lines.append(f"{key}={_text(values[name])}")
        elif default(info) is None:
            lines.append(f"# {key}= unset by default")
        else:
            lines.append(f"{key}={_text(default(info))}")
    return "\n".join(lines) + "\n"


_UNSET = re.compile(r"# ([A-Z][A-Z0-9_]*)= ")


def parse(text: str) -> tuple[dict[str, str], set[str]]:
    """(variables set, variables listed as deliberately unset) of a rendered env file."""
    values: dict[str, str] = {}
    unset: set[str] = set()
    for line in text.splitlines():
        if listed := _UNSET.match(line):
            unset.add(listed.group(1))
        elif line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value
    return values, unset
