"""Contract evolution: the committed schema snapshot, `breaking_changes` and the AsyncAPI document."""

import json
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, create_model

from crm_contracts import catalog, snapshot, topics
from crm_contracts.events import EVENT_TYPES
from crm_contracts.export import asyncapi, breaking_changes, dangling_refs, event_schemas

pytestmark = pytest.mark.unit

SNAPSHOT = Path(__file__).resolve().parents[1] / "snapshots" / "event-schemas.json"


def _load_snapshot() -> dict[str, dict[str, Any]]:
    return json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def _current() -> dict[str, dict[str, Any]]:
    return json.loads(json.dumps(event_schemas()))


# --- the committed snapshot -----------------------------------------------------------


def test_snapshot_module_writes_the_file_this_test_reads() -> None:
    assert snapshot.SNAPSHOT == SNAPSHOT


def test_no_breaking_change_against_snapshot() -> None:
    problems = breaking_changes(_load_snapshot(), _current())
    assert problems == [], (
        "Breaking change to a published event type. Do not edit the existing type: add a new "
        "type version (e.g. `...v2`) next to it, keep publishing the old one until consumers move. "
        f"Problems: {problems}"
    )


def test_snapshot_matches_current_schemas() -> None:
    assert _load_snapshot() == _current(), "additive change: regenerate with `python -m crm_contracts.snapshot`"


def test_snapshot_covers_every_event_type() -> None:
    assert set(_load_snapshot()) == set(EVENT_TYPES)


def test_current_schemas_have_no_breaking_change_against_themselves() -> None:
    assert breaking_changes(_current(), _current()) == []


# --- breaking_changes on hand-made versions ---------------------------------------------
# Every version defines classes under the same names, as an edited model would keep its name.


class Color(StrEnum):
    RED = "red"
    GREEN = "green"


class ColorPlus(StrEnum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(mode="serialization")


# The base version's fields as (type, default); `...` marks a required field.
CONTACT: dict[str, Any] = {"value": (str, ...), "label": (str | None, None)}
KIND = Literal["lead", "customer"]


def _version(person: dict[str, Any] | None = None, contact: dict[str, Any] | None = None) -> dict[str, Any]:
    """The base Person/Contact schema with fields replaced or added (a `(type, default)`) or
    removed (`None`); every version keeps the model names, as an edited model would."""
    contact_fields = {k: v for k, v in (CONTACT | (contact or {})).items() if v is not None}
    contact_model = create_model("Contact", **contact_fields)
    base: dict[str, Any] = {
        "last_name": (str, ...),
        "age": (int, ...),
        "nickname": (str | None, None),
        "kind": (KIND, "lead"),
        "main": (contact_model, ...),
        "contacts": (list[contact_model], []),
        "backup": (contact_model | None, None),
    }
    person_fields = {k: v for k, v in (base | (person or {})).items() if v is not None}
    return _schema(create_model("Person", **person_fields))


def _base() -> dict[str, Any]:
    return _version()


def _removed_field() -> dict[str, Any]:
    return _version({"age": None})


def _changed_type() -> dict[str, Any]:
    return _version({"age": (str, ...)})


def _newly_required() -> dict[str, Any]:
    return _version({"nickname": (str, ...)})


def _nested_removed() -> dict[str, Any]:
    return _version(contact={"label": None})


def _added_optional() -> dict[str, Any]:
    return _version({"first_name": (str | None, None), "tags": (list[str], [])}, contact={"verified": (bool, False)})


def _added_literal_value() -> dict[str, Any]:
    return _version({"kind": (Literal["lead", "customer", "supplier"], "lead")})


def _removed_literal_value() -> dict[str, Any]:
    return _version({"kind": (Literal["lead", "supplier"], "lead")})


def _with_enum(enum: type[StrEnum]) -> dict[str, Any]:
    class Flagged(BaseModel):
        color: enum  # type: ignore[valid-type]

    schema = _schema(Flagged)
    # Same enum name in both versions, as an edited enum keeps its name.
    schema["$defs"]["Color"] = schema["$defs"].pop(enum.__name__)
    schema["properties"]["color"] = {"$ref": "#/$defs/Color"}
    return schema


def _with_inline_enum(values: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": {"color": {"type": "string", "enum": values}}, "required": ["color"]}


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        pytest.param(_removed_field, ["person.age: field removed"], id="field-removed"),
        pytest.param(_changed_type, ["person.age: type changed from integer to string"], id="type-changed"),
        pytest.param(
            _newly_required,
            ["person.nickname: type changed from null|string to string", "person.nickname: newly required"],
            id="newly-required",
        ),
        pytest.param(_nested_removed, ["person.main.label: field removed"], id="nested-field-removed"),
        pytest.param(
            _removed_literal_value,
            ["person.kind: type changed from string{customer,lead} to string{lead,supplier}"],
            id="enum-value-removed",
        ),
    ],
)
def test_breaking_changes_are_reported(new: Any, expected: list[str]) -> None:
    problems = breaking_changes({"person": _base()}, {"person": new()})
    for message in expected:
        assert message in problems
    assert len(problems) >= len(expected)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(_base, _added_optional, id="optional-fields-added"),
        pytest.param(_base, _added_literal_value, id="literal-value-added"),
        pytest.param(lambda: _with_enum(Color), lambda: _with_enum(ColorPlus), id="enum-value-added"),
        pytest.param(
            lambda: _with_inline_enum(["אדום", "ירוק"]), lambda: _with_inline_enum(["אדום", "ירוק", "כחול"]), id="inline-enum-value-added"
        ),
        pytest.param(_base, _base, id="unchanged"),
    ],
)
def test_compatible_changes_are_not_reported(old: Any, new: Any) -> None:
    assert breaking_changes({"person": old()}, {"person": new()}) == []


def test_newly_required_field_alone_is_reported() -> None:
    old = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["a"]}
    new = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["a", "b"]}
    assert breaking_changes({"t": old}, {"t": new}) == ["t.b: newly required"]


def test_removed_event_type_is_reported() -> None:
    old = {"crm.a.v1": _base(), "crm.b.v1": _base()}
    assert breaking_changes(old, {"crm.a.v1": _base()}) == ["crm.b.v1: event type removed"]


def test_added_event_type_is_not_reported() -> None:
    assert breaking_changes({"crm.a.v1": _base()}, {"crm.a.v1": _base(), "crm.a.v2": _removed_field()}) == []


def _holder(with_label: bool, through: str) -> dict[str, Any]:
    if with_label:

        class Contact(BaseModel):
            value: str
            label: str | None = None
    else:

        class Contact(BaseModel):  # type: ignore[no-redef]
            value: str

    if through == "list":

        class Holder(BaseModel):
            contacts: list[Contact] = []
    else:

        class Holder(BaseModel):  # type: ignore[no-redef]
            contacts: Contact | None = None

    return _schema(Holder)


@pytest.mark.parametrize("through", ["list", "optional"])
def test_field_removed_from_model_inside_list_or_optional_is_reported(through: str) -> None:
    # A field removed from a model reached only through a list or an optional must be reported just like one
    # reached through a plain reference (real cases: CustomerSnapshot.phones[].e164, Lead.affiliate.name).
    problems = breaking_changes({"holder": _holder(True, through)}, {"holder": _holder(False, through)})
    assert any("label" in p and "removed" in p for p in problems), f"removal of Contact.label went unnoticed: {problems}"


# --- AsyncAPI --------------------------------------------------------------------------


def test_asyncapi_version() -> None:
    assert asyncapi()["asyncapi"] == "3.0.0"


@pytest.mark.parametrize("topic", topics.ALL)
def test_asyncapi_has_a_channel_per_topic(topic: str) -> None:
    addresses = [c["address"] for c in asyncapi()["channels"].values()]
    assert addresses.count(topic) == 1


def _channel_address(doc: dict[str, Any], ref: str) -> str:
    channel_id = ref.removeprefix("#/channels/")
    return str(doc["channels"][channel_id]["address"])


@pytest.mark.parametrize(("service", "topic"), [(s, t) for s, subscribed in catalog.SUBSCRIBERS.items() for t in subscribed])
def test_asyncapi_has_receive_operation_per_subscription(service: str, topic: str) -> None:
    doc = asyncapi()
    receivers = [
        op
        for op in doc["operations"].values()
        if op["action"] == "receive" and op["x-service"] == service and _channel_address(doc, op["channel"]["$ref"]) == topic
    ]
    assert len(receivers) == 1
    assert receivers[0]["x-group-id"] == service


def test_asyncapi_receive_operations_are_exactly_the_subscriptions() -> None:
    doc = asyncapi()
    got = {
        (op["x-service"], _channel_address(doc, op["channel"]["$ref"])) for op in doc["operations"].values() if op["action"] == "receive"
    }
    assert got == {(s, t) for s, subscribed in catalog.SUBSCRIBERS.items() for t in subscribed}


def test_asyncapi_message_refs_resolve() -> None:
    doc = asyncapi()
    messages = doc["components"]["messages"]
    assert set(messages) == set(EVENT_TYPES)
    for channel in doc["channels"].values():
        for ref in channel["messages"].values():
            assert ref["$ref"].removeprefix("#/components/messages/") in messages


def test_committed_asyncapi_document_is_current() -> None:
    from crm_contracts import snapshot

    assert snapshot.ASYNCAPI.read_text(encoding="utf-8") == snapshot.render_asyncapi(), (
        "the AsyncAPI document changed: regenerate with `python -m crm_contracts.snapshot`"
    )


def test_every_asyncapi_ref_resolves_from_the_documents_root() -> None:
    doc = asyncapi()
    assert dangling_refs(doc) == []
    # Every model is a component of its own: no `$defs` is left embedded anywhere.
    assert "$defs" not in json.dumps(doc)
    data = doc["components"]["messages"]["crm.customer.created.v1"]["payload"]["allOf"][1]["properties"]["data"]
    assert data == {"$ref": "#/components/schemas/CustomerCreated"}
    assert doc["components"]["schemas"]["CustomerSnapshot"]["properties"]["phones"]["items"] == {"$ref": "#/components/schemas/Phone"}


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
def test_each_exported_json_schema_is_self_contained(type_name: str) -> None:
    schema = event_schemas()[type_name]
    assert dangling_refs(schema) == []


def test_dangling_refs_names_each_ref_that_points_nowhere() -> None:
    doc = {
        "components": {"schemas": {"A": {"type": "object"}, "a/b": {}}},
        "x": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/$defs/A"}],
        "y": {"items": {"$ref": "#/components/schemas/a~1b"}, "z": {"$ref": "other.json#/A"}},
    }
    assert dangling_refs(doc) == ["#/$defs/A", "other.json#/A"]


def test_asyncapi_refuses_to_export_a_document_with_a_dangling_ref(monkeypatch: pytest.MonkeyPatch) -> None:
    from crm_contracts import export

    real = export._component_schemas

    def without_phone() -> tuple[dict[str, str], dict[str, Any]]:
        names, schemas = real()
        del schemas["Phone"]
        return names, schemas

    monkeypatch.setattr(export, "_component_schemas", without_phone)
    with pytest.raises(RuntimeError, match="#/components/schemas/Phone"):
        export.asyncapi()
