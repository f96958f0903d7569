"""Every rendered object against its schema: Kubernetes' own (offline, strict) or ours for the operators' kinds."""

import copy
import json
from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from .conftest import OVERLAYS, REPO

pytestmark = pytest.mark.deploy

K8S_VERSION = "1.32.0"  # the oldest Kubernetes the manifests are meant for
SCHEMAS = REPO / "deploy" / "k8s" / "schemas"


def schema_file(kind: str, api_version: str) -> str:
    """`<kind>-<group>-<version>.json`, as deploy/k8s/schemas/README.md names them."""
    return f"{kind.lower()}-{api_version.replace('/', '-')}.json"


@cache
def crd_schema(kind: str, api_version: str) -> dict[str, Any] | None:
    path = SCHEMAS / schema_file(kind, api_version)
    return json.loads(path.read_text()) if path.is_file() else None


def problems(doc: dict[str, Any]) -> list[str]:
    where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    group = doc["apiVersion"].rpartition("/")[0]
    if "." in group and not group.endswith("k8s.io"):  # an operator's kind
        schema = crd_schema(doc["kind"], doc["apiVersion"])
        if schema is None:
            return [f"{where}: no schema for {doc['apiVersion']} {doc['kind']} in {SCHEMAS.relative_to(REPO)}"]
        validator = jsonschema.Draft202012Validator(schema)
        return [f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as error:
        return [f"{where}: {error}"]
    return []


@pytest.mark.parametrize("overlay", [*OVERLAYS, "base"])
def test_every_object_matches_its_schema(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    found = [p for doc in rendered[overlay] for p in problems(doc)]
    assert found == []


def test_the_validation_is_strict(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """A misspelt field fails, in a built-in kind and in an operator's kind alike."""
    docs = {d["kind"]: d for d in rendered["dev"]}
    deployment = copy.deepcopy(docs["Deployment"])
    deployment["spec"]["replica"] = 2
    topic = copy.deepcopy(docs["KafkaTopic"])
    topic["spec"]["partition"] = 6
    scaled = copy.deepcopy(docs["ScaledObject"])
    scaled["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 100  # KEDA takes strings only
    for broken in (deployment, topic, scaled):
        assert problems(broken), broken["kind"]


def test_every_schema_of_ours_is_used(rendered: dict[str, list[dict[str, Any]]]) -> None:
    used = {schema_file(d["kind"], d["apiVersion"]) for docs in rendered.values() for d in docs}
    assert {p.name for p in SCHEMAS.glob("*.json")} <= used
