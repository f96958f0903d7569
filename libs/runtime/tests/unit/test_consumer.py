"""The consumer's retry rules with fakes: an outage never uses up a message's attempts, only
the message's own failures count, poison goes to the dead-letter topic at once, and a dead
letter that cannot be sent never stops the consumer."""

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import pytest
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError, TopicAuthorizationFailedError
from pydantic import BaseModel, ConfigDict
from sqlalchemy import MetaData
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError

from crm_contracts.envelope import Envelope
from crm_contracts.text import UNSTORABLE_MESSAGE
from crm_runtime import backoff as backoff_module
from crm_runtime import consumer as consumer_module
from crm_runtime.consumer import EventConsumer, PoisonMessage, same_workspace
from crm_runtime.delivery_tables import inbox_table
from crm_runtime.logs import correlation_id
from crm_runtime.registry import Message, OneHandler, Registry, RunHandler
from crm_runtime.settings import ServiceSettings

pytestmark = pytest.mark.unit

TYPE = "crm.test.noted.v1"
SETTINGS = ServiceSettings(
    service_name="svc", http_port=0, database_url="postgresql+asyncpg://u:p@db/x", consumer_max_retries=3, consumer_retry_backoff_ms=1
)


class _Orig(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


def starting_up_raw() -> BaseException:
    error: BaseException = asyncpg.exceptions.CannotConnectNowError("the database system is starting up")
    return error


def starting_up_wrapped() -> BaseException:
    return DBAPIError(None, None, _Orig("57P03"))


def shutting_down() -> BaseException:
    return DBAPIError("SELECT 1", {}, _Orig("57P01"))


def refused() -> BaseException:
    return ConnectionRefusedError(111, "Connection refused")


def reset_mid_transaction() -> BaseException:
    return InterfaceError("UPDATE …", {}, Exception("connection is closed"), connection_invalidated=True)


def timed_out() -> BaseException:
    return TimeoutError()


OUTAGES: list[Callable[[], BaseException]] = [
    starting_up_raw,
    starting_up_wrapped,
    shutting_down,
    refused,
    reset_mid_transaction,
    timed_out,
]


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backoff_module, "FIRST_S", 0.001)
    monkeypatch.setattr(backoff_module, "CAP_S", 0.002)


class FakeSession:
    """Opening a transaction raises the next scripted error (the database refusing)."""

    def __init__(self, db: "FakeDatabase") -> None:
        self._db = db

    async def __aenter__(self) -> "FakeSession":
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def begin(self) -> "FakeSession":
        return _Begin(self._db)  # type: ignore[return-value]

    async def scalars(self, _stmt: object, params: dict[str, list[Any]]) -> list[Any]:
        return [i for i in params["ids"] if i not in self._db.inbox]


class _Begin:
    def __init__(self, db: "FakeDatabase") -> None:
        self._db = db

    async def __aenter__(self) -> None:
        self._db.opened += 1
        if self._db.refusals:
            raise self._db.refusals.pop(0)()

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        return None


class FakeDatabase:
    def __init__(self, refusals: list[Callable[[], BaseException]] | None = None) -> None:
        self.refusals = list(refusals or [])
        self.opened = 0
        self.inbox: set[Any] = set()

    def __call__(self) -> FakeSession:
        return FakeSession(self)


class FakeProducer:
    def __init__(self, failures: list[BaseException] | None = None) -> None:
        self.failures = list(failures or [])
        self.sent: list[dict[str, Any]] = []
        self.tried: list[dict[str, Any]] = []

    async def send_and_wait(self, topic: str, value: bytes | None = None, key: bytes | None = None, headers: Any = None) -> None:
        record = {"topic": topic, "value": value, "key": key, "headers": dict(headers or ())}
        self.tried.append(record)
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(record)


def record(event: Envelope | bytes, offset: int = 7) -> ConsumerRecord[bytes, bytes]:
    value = event if isinstance(event, bytes) else event.model_dump_json().encode()
    return ConsumerRecord("t.v1", 2, offset, 0, 0, b"key", value, None, 3, len(value), [("content-type", b"x")])


def event(text: str = "hello", **extra: Any) -> Envelope:
    return Envelope(source="/crm/test", type=TYPE, data={"text": text}, **extra)


class Noted(BaseModel):
    """The test app's payload (outside the contracts): a text, and whatever else a test puts beside it."""

    model_config = ConfigDict(extra="allow")
    text: str = ""


def one(handler: OneHandler[Noted]) -> Registry:
    return Registry().on(Noted, handler, event_type=TYPE)


def in_runs(handler: RunHandler[Noted]) -> Registry:
    return Registry().on_run(Noted, handler, event_type=TYPE)


def make(handlers: Registry, db: FakeDatabase, producer: FakeProducer, settings: ServiceSettings = SETTINGS) -> EventConsumer:
    return EventConsumer(settings, db, inbox_table(MetaData()), ["t.v1"], handlers, producer)  # type: ignore[arg-type]


@pytest.mark.parametrize("outage", OUTAGES, ids=lambda f: f.__name__)
async def test_an_outage_longer_than_the_attempts_is_waited_out_and_the_message_applied(outage: Callable[[], BaseException]) -> None:
    applied: list[str] = []

    async def handler(_s: object, m: Message[Noted]) -> None:
        applied.append(m.payload.text)

    db, producer = FakeDatabase([outage] * 8), FakeProducer()
    assert await make(one(handler), db, producer)._process_one(record(event()))
    assert applied == ["hello"], "applied once the database answered"
    assert producer.tried == [], "an outage is not the message's fault: nothing dead-lettered"
    assert db.opened == 9


async def test_only_the_messages_own_failures_count_and_outages_between_them_do_not() -> None:
    calls = 0
    db, producer = FakeDatabase([starting_up_raw, refused]), FakeProducer()

    async def handler(_s: object, _m: Message[Noted]) -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            db.refusals += [refused, starting_up_raw, timed_out]  # the next tries meet an outage first
            raise RuntimeError("its own failure")

    assert await make(one(handler), db, producer)._process_one(record(event()))
    assert calls == 3 and producer.tried == [], "two failures and eight refusals: still within the three attempts"


async def test_a_message_that_keeps_failing_is_dead_lettered_after_its_attempts_whatever_the_outages() -> None:
    calls = 0
    db = FakeDatabase([refused])

    async def handler(_s: object, m: Message[Noted]) -> None:
        nonlocal calls
        calls += 1
        db.refusals.append(starting_up_wrapped)
        raise RuntimeError(f"cannot handle {m.payload.text}")

    producer = FakeProducer()
    assert await make(one(handler), db, producer)._process_one(record(event("private words")))
    assert calls == 3, "bounded: the message's own three attempts"
    [letter] = producer.sent
    assert letter["topic"] == "t.v1.dlq" and letter["key"] == b"key"
    assert letter["headers"]["dlq-error"] == b"RuntimeError: cannot handle private words"
    assert letter["headers"]["dlq-source"] == b"t.v1/2/7"
    assert letter["headers"]["content-type"] == b"x", "the original headers are kept"


async def test_a_deadlock_is_retried_without_counting() -> None:
    calls = 0

    async def handler(_s: object, _m: Message[Noted]) -> None:
        nonlocal calls
        calls += 1
        if calls <= 5:
            raise DBAPIError("UPDATE …", {}, _Orig("40P01"))

    producer = FakeProducer()
    assert await make(one(handler), FakeDatabase(), producer)._process_one(record(event()))
    assert calls == 6 and producer.tried == []


async def test_a_batch_that_meets_an_outage_is_retried_whole_not_split_and_counted() -> None:
    runs: list[list[str]] = []

    async def handle(_s: object, messages: Sequence[Message[Noted]]) -> None:
        runs.append([m.payload.text for m in messages])

    db, producer = FakeDatabase([starting_up_raw] * 6), FakeProducer()
    consumer = make(in_runs(handle), db, producer)
    msgs = [record(event(f"n{i}"), offset=i) for i in range(4)]
    assert await consumer._process_partition(msgs)
    assert runs == [["n0", "n1", "n2", "n3"]], "one batch, applied once the database is back"
    assert producer.tried == []


async def test_a_batch_failing_for_its_messages_goes_one_at_a_time_and_only_the_bad_one_is_dead_lettered() -> None:
    runs: list[list[str]] = []

    async def handle(_s: object, messages: Sequence[Message[Noted]]) -> None:
        if any(m.payload.text == "bad" for m in messages):
            raise RuntimeError("bad one")
        runs.append([m.payload.text for m in messages])

    producer = FakeProducer()
    consumer = make(in_runs(handle), FakeDatabase(), producer)
    assert await consumer._process_partition([record(event(t), offset=i) for i, t in enumerate(["a", "bad", "c"])])
    assert runs == [["a"], ["c"]]
    assert [r["headers"]["dlq-source"] for r in producer.sent] == [b"t.v1/2/1"]


async def test_stopping_during_an_outage_leaves_the_message_unapplied() -> None:
    consumer = make(one(lambda s, m: asyncio.sleep(0)), FakeDatabase([refused] * 1000), FakeProducer())
    stop = asyncio.Event()
    consumer._stop = stop
    task = asyncio.create_task(consumer._process_one(record(event())))
    await asyncio.sleep(0.05)
    stop.set()
    assert await asyncio.wait_for(task, 1) is False


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"text": "a\x00b"}, "data.text"),
        ({"contacts": [{"phones": ["1", "2\x00"]}]}, "data.contacts[0].phones[1]"),
        ({"fields": {"col\x00our": "x"}}, "data.fields.col\x00our"),
    ],
)
async def test_text_that_cannot_be_stored_is_poison_at_once_naming_the_field(data: dict[str, Any], field: str) -> None:
    called = False

    async def handler(_s: object, _m: Message[Noted]) -> None:
        nonlocal called
        called = True

    producer = FakeProducer()
    bad = Envelope(source="/crm/test", type=TYPE, data=data)
    assert await make(one(handler), FakeDatabase(), producer)._process_one(record(bad))
    assert not called, "never handed to the handler"
    [letter] = producer.sent
    error = letter["headers"]["dlq-error"].decode()
    assert error.startswith("unstorable text: ") and field in error


async def test_a_lone_surrogate_is_poison_too() -> None:
    raw = event().model_dump_json().replace('"hello"', '"he\\ud800llo"').encode()
    producer = FakeProducer()
    assert await make(one(lambda s, m: asyncio.sleep(0)), FakeDatabase(), producer)._process_one(record(raw))
    [letter] = producer.sent
    assert letter["value"] == raw


async def _dead_letter_of(raw: bytes) -> dict[str, Any]:
    """The dead letter `raw` becomes at once, checking that no handler ever saw it."""
    applied: list[Message[Noted]] = []

    async def handler(_s: object, m: Message[Noted]) -> None:
        applied.append(m)

    producer = FakeProducer()
    assert await make(one(handler), FakeDatabase(), producer)._process_one(record(raw))
    assert applied == [], "never handed to the handler"
    [letter] = producer.sent
    assert letter["value"] == raw
    return letter


def _with_data(data: str, workspace: str = '"main"') -> bytes:
    """A record value whose `data` and `workspace` are spelled as given (JSON text)."""
    raw = event().model_dump_json().replace('{"text":"hello"}', data).replace('"workspace":"main"', f'"workspace":{workspace}')
    return raw.encode()


@pytest.mark.parametrize("surrogate", ["\\ud800", "\\udfff"])
async def test_a_lone_surrogate_the_parser_refuses_is_named_by_its_field(surrogate: str) -> None:
    letter = await _dead_letter_of(_with_data(f'{{"text": ["ok", "he{surrogate}llo"]}}'))
    assert letter["headers"]["dlq-error"] == f"unstorable text: data.text[1] {UNSTORABLE_MESSAGE}".encode()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ('{"n": 18446744073709551616}', "data.n"),  # 2**64: beyond what a JSONB column's encoder writes
        ('{"n": -9223372036854775809}', "data.n"),  # -(2**63) - 1: 19 digits
        ('{"fields": {"list": [1, NaN]}}', "data.fields.list[1]"),
        ('{"f": 1e400}', "data.f"),  # read as infinity
        ('{"f": -Infinity}', "data.f"),
    ],
)
async def test_a_number_no_store_can_keep_is_poison_at_once_naming_the_field(data: str, field: str) -> None:
    error = (await _dead_letter_of(_with_data(data)))["headers"]["dlq-error"].decode()
    assert error.startswith("unstorable number: ") and field in error


@pytest.mark.parametrize("number", ["18446744073709551615", "-9223372036854775808", "1000000000000000000", "1.5e300", "1e-400"])
async def test_numbers_a_store_can_keep_are_applied(number: str) -> None:
    applied: list[Any] = []

    async def handler(_s: object, m: Message[Noted]) -> None:
        applied.append((m.payload.model_extra or {})["n"])

    producer = FakeProducer()
    assert await make(one(handler), FakeDatabase(), producer)._process_one(record(_with_data(f'{{"n": {number}}}')))
    assert len(applied) == 1 and producer.tried == []


async def test_text_and_numbers_no_store_can_keep_are_named_together() -> None:
    error = (await _dead_letter_of(_with_data('{"a": "x\\u0000", "n": 99999999999999999999}')))["headers"]["dlq-error"].decode()
    assert error.startswith("unstorable text: data.a ") and "; unstorable number: data.n " in error


@pytest.mark.parametrize(
    ("workspace", "why"),
    [('""', "at least 1 character"), (f'"{"w" * 101}"', "at most 100 characters"), ('"a\\u0000b"', "cannot be stored")],
)
async def test_an_envelope_whose_workspace_no_store_can_keep_is_not_an_envelope(workspace: str, why: str) -> None:
    error = (await _dead_letter_of(_with_data('{"text": "hello"}', workspace=workspace)))["headers"]["dlq-error"].decode()
    assert error.startswith("not a CloudEvents envelope: workspace: ") and why in error


def test_same_workspace_refuses_a_record_of_another_workspace_naming_both() -> None:
    same_workspace(event(workspace="acme"), "acme")
    with pytest.raises(PoisonMessage, match="^workspace mismatch: event workspace globex, record workspace acme$"):
        same_workspace(event(workspace="globex"), "acme")


async def test_unstorable_text_in_a_type_nobody_handles_is_ignored_like_the_type() -> None:
    producer = FakeProducer()
    other = Envelope(source="/crm/test", type="crm.other.v1", data={"text": "a\x00b"})
    assert await make(one(lambda s, m: asyncio.sleep(0)), FakeDatabase(), producer)._process_one(record(other))
    assert producer.tried == []


async def test_an_invalid_payload_is_poison_before_any_transaction_and_never_reaches_the_handler() -> None:
    called = False

    async def handler(_s: object, _m: Message[Noted]) -> None:
        nonlocal called
        called = True

    db, producer = FakeDatabase(), FakeProducer()
    raw = _with_data('{"text": ["not", "a", "text"]}')
    assert await make(one(handler), db, producer)._process_one(record(raw))
    assert not called and db.opened == 0, "refused while parsing: no transaction opened, no attempt used"
    [letter] = producer.sent
    assert letter["value"] == raw
    assert letter["headers"]["dlq-error"].startswith(b"invalid crm.test.noted.v1 payload: text: ")

    # In a batch: the bad one fails the batch before its transaction; the others are applied.
    applied: list[str] = []

    async def keep(_s: object, m: Message[Noted]) -> None:
        applied.append(m.payload.text)

    db, producer = FakeDatabase(), FakeProducer()
    batch = [record(event("a"), offset=0), record(raw, offset=1), record(event("c"), offset=2)]
    assert await make(one(keep), db, producer)._process_partition(batch)
    assert applied == ["a", "c"]
    assert [r["headers"]["dlq-source"] for r in producer.sent] == [b"t.v1/2/1"]


async def test_a_handlers_poison_reason_reaches_the_header_and_only_its_kind_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(_s: object, _m: Message[Noted]) -> None:
        raise PoisonMessage("workspace mismatch: customer 0f9c is in workspace acme, the event says globex")

    producer = FakeProducer()
    with caplog.at_level(logging.INFO):
        assert await make(one(handler), FakeDatabase(), producer)._process_one(record(event()))
    [letter] = producer.sent
    assert letter["headers"]["dlq-error"] == b"workspace mismatch: customer 0f9c is in workspace acme, the event says globex"
    assert "workspace mismatch" in caplog.text and "acme" not in caplog.text and "0f9c" not in caplog.text


async def test_logs_never_carry_the_message_or_its_error_text(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(_s: object, m: Message[Noted]) -> None:
        raise IntegrityError("INSERT …", {"name": m.payload.text}, _Orig("23505"))

    producer = FakeProducer()
    with caplog.at_level(logging.INFO):
        await make(one(handler), FakeDatabase(), producer)._process_one(record(event("Dana Cohen")))
        await make(one(handler), FakeDatabase(), producer)._process_one(record(b'{"name": "Dana Cohen"'))
    assert "Dana" not in caplog.text
    assert "SQLSTATE 23505" in caplog.text and "t.v1/2@7" in caplog.text
    assert b"Dana" not in producer.sent[0]["headers"]["dlq-error"], "no SQL parameters in the header either"


async def test_a_broker_outage_while_dead_lettering_is_waited_out() -> None:
    producer = FakeProducer([KafkaConnectionError("gone"), KafkaConnectionError("gone")])
    assert await make(Registry(), FakeDatabase(), producer)._process_one(record(b"not json"))
    assert len(producer.tried) == 3 and len(producer.sent) == 1


async def test_a_dead_letter_the_broker_refuses_is_tried_smaller_then_skipped_without_crashing() -> None:
    producer = FakeProducer([MessageSizeTooLargeError(), MessageSizeTooLargeError()])
    assert await make(Registry(), FakeDatabase(), producer)._process_one(record(b"x" * 200_000))
    assert [len(r["value"]) for r in producer.tried][0] == 200_000
    assert len(producer.tried[1]["value"]) < 64 * 1024 and producer.tried[1]["headers"]["dlq-truncated"] == b"true"
    assert producer.sent == [], "logged and skipped: the consumer goes on"

    producer = FakeProducer([TopicAuthorizationFailedError()])
    assert await make(Registry(), FakeDatabase(), producer)._process_one(record(b"not json"))
    assert len(producer.tried) == 1


async def test_the_correlation_id_is_set_while_each_event_is_handled() -> None:
    seen: list[str | None] = []

    async def handler(_s: object, _m: Message[Noted]) -> None:
        logging.getLogger("test").info("handling")
        seen.append(correlation_id.get())

    async def handle(_s: object, messages: Sequence[Message[Noted]]) -> None:
        seen.append(correlation_id.get())

    with_correlation, without = event(correlationid="sub-1"), event()
    consumer = make(one(handler), FakeDatabase(), FakeProducer())
    await consumer._process_one(record(with_correlation))
    await consumer._process_one(record(without))
    await consumer._process_partition([record(event(correlationid="sub-2")), record(event(correlationid="sub-3"))])
    assert seen == ["sub-1", str(without.id), "sub-2", "sub-3"]
    assert correlation_id.get() is None, "reset after handling"

    seen.clear()
    batched = make(in_runs(handle), FakeDatabase(), FakeProducer())
    await batched._process_partition([record(event(correlationid="sub-4")), record(event(correlationid="sub-4"))])
    await batched._process_partition([record(event(correlationid="sub-5")), record(event(correlationid="sub-6"))])
    assert seen == ["sub-4", None], "a run of one submission carries it; a mixed run none"


async def test_ids_that_look_like_exponents_cost_no_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """UUIDs are hex: `4e123` is in many of them. Only a number token with a 3-digit exponent
    makes the consumer walk the event for values no store can keep."""
    walks: list[object] = []
    monkeypatch.setattr(consumer_module, "storable_problems", lambda value: walks.append(value) or [])
    applied: list[Any] = []

    async def handler(_s: object, m: Message[Noted]) -> None:
        applied.append(m)

    hexy = event(subject="0f4e1230-9e45-4e12-8e99-1e2e3e4e5e6e", text="4e123 and E999 inside text")
    consumer = make(one(handler), FakeDatabase(), FakeProducer())
    assert await consumer._process_one(record(hexy))
    assert len(applied) == 1 and walks == []
    assert await consumer._process_one(record(_with_data('{"x": [1, 2.5E+308]}')))
    assert len(walks) == 1, "a number token with a 3-digit exponent is walked"
