"""The CloudEvents envelope, the event registry and topic helpers of crm_contracts."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from pydantic import BaseModel, ValidationError

from crm_contracts import catalog, topics
from crm_contracts.envelope import SPEC_VERSION, Envelope
from crm_contracts.events import EVENT_TYPES, TOPIC_TYPES, TYPE_BY_MODEL, CustomerOwnerAssigned, LeadAccepted, type_of

pytestmark = pytest.mark.unit


def _envelope(**extra: object) -> Envelope:
    return Envelope(source="/crm/intake-svc", type="crm.intake.lead.accepted.v1", data={"last_name": "כהן", "first_name": "דנה"}, **extra)


# --- envelope ----------------------------------------------------------------------------


def test_defaults_are_filled() -> None:
    before = datetime.now(UTC)
    env = _envelope()
    after = datetime.now(UTC)

    assert env.specversion == SPEC_VERSION == "1.0"
    assert isinstance(env.id, UUID) and env.id.version == 4
    assert env.time.utcoffset() == timedelta(0)
    assert before <= env.time <= after
    assert env.workspace == "main"
    assert env.datacontenttype == "application/json"
    assert env.subject is None and env.correlationid is None and env.causationid is None


def test_each_envelope_gets_its_own_id() -> None:
    assert len({_envelope().id for _ in range(50)}) == 50


def test_json_round_trip_keeps_everything_including_hebrew() -> None:
    env = _envelope(subject="7b0c2c1e-0000-4000-8000-000000000001", workspace="סניף-צפון", correlationid="sub-1", causationid="evt-0")

    text = env.model_dump_json()
    back = Envelope.model_validate_json(text)

    assert back == env
    assert back.data == {"last_name": "כהן", "first_name": "דנה"}
    assert back.workspace == "סניף-צפון"


def test_explicit_id_and_time_survive_round_trip() -> None:
    env = _envelope(id=UUID("12345678-1234-5678-1234-567812345678"), time=datetime(2024, 5, 1, 9, 30, tzinfo=UTC))

    back = Envelope.model_validate_json(env.model_dump_json())

    assert back.id == UUID("12345678-1234-5678-1234-567812345678")
    assert back.time == datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def test_specversion_serialised_as_1_0() -> None:
    assert _envelope().model_dump(mode="json")["specversion"] == "1.0"


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        (
            {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
            {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
        ),
        ({"partitionkey": "e:dana@example.com", "sequence": 7}, {"partitionkey": "e:dana@example.com", "sequence": 7}),
    ],
)
def test_extension_attributes_are_allowed_and_round_trip(attrs: dict[str, object], expected: dict[str, object]) -> None:
    env = _envelope(**attrs)

    back = Envelope.model_validate_json(env.model_dump_json())

    dumped = back.model_dump(mode="json")
    for key, value in expected.items():
        assert dumped[key] == value


@pytest.mark.parametrize("missing", ["source", "type", "data"])
def test_required_attributes(missing: str) -> None:
    body: dict[str, object] = {"source": "/crm/x", "type": "crm.x.v1", "data": {}}
    del body[missing]
    with pytest.raises(ValidationError, match=missing):
        Envelope.model_validate(body)


# --- registry ----------------------------------------------------------------------------


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
def test_every_event_type_travels_on_exactly_one_topic(type_name: str) -> None:
    carrying = [topic for topic, types in TOPIC_TYPES.items() if type_name in types]
    assert len(carrying) == 1, f"{type_name} is carried by {carrying}"


def test_topic_registry_names_only_known_types_and_topics() -> None:
    listed = [t for types in TOPIC_TYPES.values() for t in types]
    assert set(listed) <= set(EVENT_TYPES)
    assert set(TOPIC_TYPES) == set(topics.ALL)
    assert set(catalog.PUBLISHERS) == set(topics.ALL)
    assert {t for subscribed in catalog.SUBSCRIBERS.values() for t in subscribed} <= set(topics.ALL)


@pytest.mark.parametrize(("type_name", "model"), sorted(EVENT_TYPES.items()))
def test_type_of_maps_models_to_names(type_name: str, model: type[BaseModel]) -> None:
    assert type_of(model.model_construct()) == type_name
    assert TYPE_BY_MODEL[model] == type_name


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
def test_type_names_are_versioned(type_name: str) -> None:
    assert type_name.startswith("crm.")
    assert type_name.rsplit(".", 1)[-1].startswith("v")


def test_type_of_distinguishes_models() -> None:
    assert type_of(LeadAccepted.model_construct()) != type_of(CustomerOwnerAssigned.model_construct())


def test_type_of_unregistered_model_raises() -> None:
    class NotAnEvent(BaseModel):
        name: str = "לא אירוע"

    with pytest.raises(KeyError):
        type_of(NotAnEvent())


# --- topics ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "dlq"),
    [
        ("crm.intake.leads.v1", "crm.intake.leads.v1.dlq"),
        ("crm.customer.events.v1", "crm.customer.events.v1.dlq"),
        ("crm.timeline.interactions.v1", "crm.timeline.interactions.v1.dlq"),
    ],
)
def test_dead_letter(topic: str, dlq: str) -> None:
    assert topics.dead_letter(topic) == dlq


def test_dead_letter_topics_are_not_regular_topics() -> None:
    dlqs = {topics.dead_letter(t) for t in topics.ALL}
    assert len(dlqs) == len(topics.ALL)
    assert not dlqs & set(topics.ALL)
