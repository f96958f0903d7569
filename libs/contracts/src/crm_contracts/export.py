"""Export JSON Schemas of every event type and an AsyncAPI 3 document.

`crm-contracts-export DIR` writes `DIR/schemas/<type>.json` (each self-contained: nested
models under its own `$defs`) and `DIR/asyncapi.json` (every model a component schema, so
every `$ref` resolves from the document's root).
`breaking_changes(old, new)` names what a consumer of `old` would trip over in `new`.
"""

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from crm_contracts import catalog
from crm_contracts.envelope import CONTENT_TYPE, Envelope
from crm_contracts.events import EVENT_TYPES, TOPIC_TYPES


def event_schemas() -> dict[str, dict[str, Any]]:
    return {name: model.model_json_schema(mode="serialization") for name, model in EVENT_TYPES.items()}


SCHEMAS = "#/components/schemas/"


def _component_schemas() -> tuple[dict[str, str], dict[str, Any]]:
    """Every event model's data schema, the envelope and every model they nest, as one set of
    AsyncAPI component schemas: (event type -> its component name, component name -> schema).

    Each nested model is a component of its own and every `$ref` names a component, so the
    document resolves from its root (a pydantic `$defs` embedded in a message would not:
    its `#/$defs/...` refs would point at the document's root). Models sharing a name are
    told apart by pydantic's generator.
    """
    inputs: list[tuple[type[BaseModel], JsonSchemaMode]] = [(model, "serialization") for model in EVENT_TYPES.values()]
    inputs.append((Envelope, "validation"))
    refs, schema = models_json_schema(inputs, ref_template=SCHEMAS + "{model}")
    names = {name: refs[(model, "serialization")]["$ref"].removeprefix(SCHEMAS) for name, model in EVENT_TYPES.items()}
    names["Envelope"] = refs[(Envelope, "validation")]["$ref"].removeprefix(SCHEMAS)
    return names, dict(schema.get("$defs", {}))


def dangling_refs(document: dict[str, Any]) -> list[str]:
    """Every `$ref` of `document` (a local `#/...` pointer) that names nothing in it."""

    def resolves(ref: str) -> bool:
        if not ref.startswith("#/"):
            return False
        node: Any = document
        for token in ref[2:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                return False
        return True

    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not resolves(ref):
                out.append(ref)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return out


def asyncapi() -> dict[str, Any]:
    names, schemas = _component_schemas()
    messages: dict[str, Any] = {}
    for name in EVENT_TYPES:
        messages[name] = {
            "name": name,
            "contentType": CONTENT_TYPE,
            "payload": {
                "allOf": [
                    {"$ref": SCHEMAS + names["Envelope"]},
                    {"type": "object", "properties": {"type": {"const": name}, "data": {"$ref": SCHEMAS + names[name]}}},
                ]
            },
        }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic, types in TOPIC_TYPES.items():
        channel_id = topic.replace(".", "_")
        channels[channel_id] = {
            "address": topic,
            "messages": {t: {"$ref": f"#/components/messages/{t}"} for t in types},
            "x-publisher": catalog.PUBLISHERS[topic],
        }
        operations[f"publish_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "x-service": catalog.PUBLISHERS[topic],
        }
        for service, subscribed in catalog.SUBSCRIBERS.items():
            if topic in subscribed:
                operations[f"{service}_receive_{channel_id}"] = {
                    "action": "receive",
                    "channel": {"$ref": f"#/channels/{channel_id}"},
                    "x-service": service,
                    "x-group-id": service,
                }
    document = {
        "asyncapi": "3.0.0",
        "info": {"title": "CRM core events", "version": "1.0.0"},
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }
    if dangling := dangling_refs(document):
        raise RuntimeError(f"the AsyncAPI document has $refs that point nowhere: {sorted(set(dangling))}")
    return document


def _props(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        schema = defs[schema["$ref"].split("/")[-1]]
    return schema


def _type_sig(schema: dict[str, Any]) -> str:
    """A comparable description of a property's type (refs by name, unions sorted)."""
    if "$ref" in schema:
        return "ref:" + str(schema["$ref"]).split("/")[-1]
    if "anyOf" in schema:
        return "|".join(sorted(_type_sig(s) for s in schema["anyOf"]))
    base = str(schema.get("type", "any"))
    if base == "array":
        return "array<" + _type_sig(schema.get("items", {})) + ">"
    if "enum" in schema:
        return base + "{" + ",".join(sorted(map(str, schema["enum"]))) + "}"
    if "const" in schema:
        return base + "{" + str(schema["const"]) + "}"
    return base


def _values(schema: dict[str, Any]) -> set[str]:
    if "enum" in schema:
        return set(map(str, schema["enum"]))
    return {str(schema["const"])} if "const" in schema else set()


def _nested_ref(schema: dict[str, Any]) -> str | None:
    """The model a property holds: directly, as list items, or inside an optional union."""
    if "$ref" in schema:
        return str(schema["$ref"])
    if schema.get("type") == "array":
        return _nested_ref(schema.get("items", {}))
    for option in schema.get("anyOf", []):
        if ref := _nested_ref(option):
            return ref
    return None


def breaking_changes(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> list[str]:
    """Changes of `new` that break a consumer written against `old` (additions are fine)."""
    problems: list[str] = []
    for type_name, old_schema in old.items():
        if type_name not in new:
            problems.append(f"{type_name}: event type removed")
            continue
        problems += _compare_object(type_name, old_schema, new[type_name], old_schema.get("$defs", {}), new[type_name].get("$defs", {}))
    return problems


def _compare_object(path: str, old: dict[str, Any], new: dict[str, Any], old_defs: dict[str, Any], new_defs: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    old, new = _props(old, old_defs), _props(new, new_defs)
    if _values(old) and not _values(old) <= _values(new):
        problems.append(f"{path}: allowed values {sorted(_values(old) - _values(new))} removed")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for field, old_field in old_props.items():
        where = f"{path}.{field}"
        if field not in new_props:
            problems.append(f"{where}: field removed")
            continue
        new_field = new_props[field]
        if _type_sig(old_field) != _type_sig(new_field):
            old_enum, new_enum = _values(old_field), _values(new_field)
            if not (old_enum and old_enum <= new_enum and old_field.get("type") == new_field.get("type")):
                problems.append(f"{where}: type changed from {_type_sig(old_field)} to {_type_sig(new_field)}")
        old_ref, new_ref = _nested_ref(old_field), _nested_ref(new_field)
        if old_ref and new_ref:
            problems += _compare_object(where, {"$ref": old_ref}, {"$ref": new_ref}, old_defs, new_defs)
    for field in set(new.get("required", [])) - set(old.get("required", [])):
        problems.append(f"{path}.{field}: newly required")
    return problems


def write(directory: Path) -> None:
    schemas_dir = directory / "schemas"
    schemas_dir.mkdir(parents=True, exist_ok=True)
    for name, schema in event_schemas().items():
        (schemas_dir / f"{name}.json").write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    (directory / "asyncapi.json").write_text(json.dumps(asyncapi(), indent=2, sort_keys=True) + "\n")


def main() -> None:
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "."))


if __name__ == "__main__":
    main()
