"""Dead letters as written (headers, truncation) and the replay ledger's bookkeeping."""

import pytest
from aiokafka import ConsumerRecord
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from crm_runtime import dlq
from crm_runtime.settings import ServiceSettings

pytestmark = pytest.mark.unit


def record(value: bytes | None, key: bytes | None = b"k", headers: list[tuple[str, bytes]] | None = None) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("crm.a.v1", 3, 41, 0, 0, key, value, None, 1, len(value or b""), headers or [])


def size(letter: dlq.DeadLetter) -> int:
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(letter.key, letter.value, letter.headers))


def test_a_dead_letter_keeps_key_value_and_headers_and_says_where_from_and_why() -> None:
    original = [("content-type", b"application/cloudevents+json"), ("dlq-error", b"forged"), ("dlq-replayed-from", b"crm.a.v1.dlq/0/1")]
    letter = dlq.dead_letter(record(b'{"a": 1}', headers=original), "RuntimeError: bug", "svc")
    headers = dict(letter.headers)
    assert (letter.topic, letter.key, letter.value, letter.truncated) == ("crm.a.v1.dlq", b"k", b'{"a": 1}', False)
    assert headers == {
        "content-type": b"application/cloudevents+json",
        "dlq-replayed-from": b"crm.a.v1.dlq/0/1",
        "dlq-error": b"RuntimeError: bug",
        "dlq-source": b"crm.a.v1/3/41",
        "dlq-consumer": b"svc",
        "dlq-size": b"8",
    }
    assert [k for k, _ in letter.headers].count("dlq-error") == 1, "a dlq-* header the original carried is replaced"


@pytest.mark.parametrize("value_size", [999_000, 1_048_400, 5_000_000])
def test_a_dead_letter_that_would_not_fit_is_cut_to_fit_and_marked(value_size: int) -> None:
    value = bytes(range(256)) * (value_size // 256)
    letter = dlq.dead_letter(record(value), "PoisonMessage: x" * 500, "svc")
    assert letter.truncated and dict(letter.headers)["dlq-truncated"] == b"true"
    assert dict(letter.headers)["dlq-size"] == str(len(value)).encode()
    assert size(letter) <= dlq.MAX_RECORD_BYTES and dlq.MAX_RECORD_BYTES - size(letter) < 100, "as much as fits"
    assert value.startswith(letter.value or b"") and letter.key == b"k"


def test_huge_original_headers_or_key_are_dropped_before_the_reason_and_coordinates() -> None:
    letter = dlq.dead_letter(record(b"v" * 10, key=b"K" * 900_000, headers=[("h", b"x" * 900_000)]), "why", "svc")
    assert letter.truncated and size(letter) <= dlq.MAX_RECORD_BYTES
    assert {k for k, _ in letter.headers} == {"dlq-error", "dlq-source", "dlq-consumer", "dlq-size", "dlq-truncated"}
    assert letter.key == b"K" * 1024


def test_the_smaller_fallback() -> None:
    letter = dlq.dead_letter(record(b"x" * 200_000), "why", "svc", max_bytes=dlq.FALLBACK_RECORD_BYTES)
    assert letter.truncated and size(letter) <= dlq.FALLBACK_RECORD_BYTES


def test_the_ledger_remembers_ranges_and_folds_them_into_the_mark() -> None:
    ledger = dlq.Ledger.parse(10, "")
    ledger.add([13, 14, 15, 20])
    assert ledger.metadata() == "13-15,20" and ledger.mark == 10
    assert [o for o in range(9, 22) if ledger.done(o)] == [9, 13, 14, 15, 20]
    ledger.add([10, 11, 12])
    assert (ledger.mark, ledger.metadata()) == (16, "20")
    again = dlq.Ledger.parse(ledger.mark, ledger.metadata())
    assert (again.mark, again.extra) == (16, {20})
    again.close_up_to(30)
    assert (again.mark, again.metadata()) == (30, "")
    assert dlq.Ledger.parse(5, "1-3,5,6,9").mark == 7, "offsets at the mark fold in; those below drop out"


def test_a_ledger_too_scattered_to_remember_says_so() -> None:
    ledger = dlq.Ledger(0)
    ledger.add(range(1, 4000, 2))
    with pytest.raises(ValueError, match="--all"):
        ledger.metadata()


def test_topic_names_are_resolved_whichever_way_they_are_given() -> None:
    settings = ServiceSettings(service_name="svc", http_port=0, database_url="postgresql+asyncpg://u:p@db/x", topic_namespace="t1.")
    for name in ("crm.a.v1", "crm.a.v1.dlq", "t1.crm.a.v1", "t1.crm.a.v1.dlq"):
        assert dlq.dlq_topic(settings, name) == "t1.crm.a.v1.dlq"
