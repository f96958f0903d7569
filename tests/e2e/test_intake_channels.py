"""Every intake channel driven through the whole suite; the cards, tokens and timeline read back."""

import asyncio
import csv
import hashlib
import hmac
import io
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openpyxl
import pytest

from crm_devtools.e2e import E2ESuite, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def suite(make_suite) -> Iterator[E2ESuite]:  # type: ignore[no-untyped-def]
    suite = make_suite()
    suite.env.update({"INTAKE_IMPORT_CHUNK_ROWS": "50", "INTAKE_IMPORT_LEASE_S": "3"})
    suite.start_all()
    suite.seed()
    yield suite
    suite.stop_all()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


async def finished(http: httpx.AsyncClient, suite: E2ESuite, submission_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        body = (await http.get(f"{suite.url('intake')}/v1/submissions/{submission_id}")).json()
        return body if body["state"] in ("done", "rejected") else None

    return await eventually(check, timeout=60, what=f"submission {submission_id} finished")  # type: ignore[return-value]


async def card(http: httpx.AsyncClient, suite: E2ESuite, customer_id: str) -> dict[str, Any]:
    return (await http.get(f"{suite.url('customer')}/v1/customers/{customer_id}")).json()  # type: ignore[no-any-return]


async def channel(http: httpx.AsyncClient, suite: E2ESuite, kind: str, **options: Any) -> str:
    key = unique(f"{kind}-")
    answer = await http.post(f"{suite.url('intake')}/v1/channels", json={"key": key, "kind": kind, "name": key, **options})
    assert answer.status_code == 201, answer.text
    return key


async def test_api_idempotency_key_returns_the_first_answer_and_makes_one_card(
    suite: E2ESuite, http: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    email = unique("idem") + "@example.com"
    headers = {"X-Channel-Key": "dev-api-key", "Idempotency-Key": unique("k")}
    first = await anonymous.post(f"{suite.url('intake')}/v1/leads", headers=headers, json={"last_name": "Idem", "emails": [email]})
    again = await anonymous.post(f"{suite.url('intake')}/v1/leads", headers=headers, json={"last_name": "Idem", "emails": [email]})
    assert first.status_code == again.status_code == 202
    assert first.json()["submission_id"] == again.json()["submission_id"]
    other = await anonymous.post(f"{suite.url('intake')}/v1/leads", headers=headers, json={"last_name": "Other", "emails": [email]})
    assert other.status_code == 422 and other.json()["type"].endswith("/idempotency-key-reused"), other.text
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    done = await finished(http, suite, first.json()["submission_id"])
    assert done["decision"] == "create"
    assert await suite.scalar("intake", "select count(*) from submissions where lead->'emails'->>0 = $1", email) == 1


async def test_web_mapping_raw_fields_no_name_token_and_resubmission_alert(
    suite: E2ESuite, http: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    key = await channel(http, suite, "web", mapping={"tel": "phone", "mail": "email", "src": "fields.source"})
    mail = unique("web") + "@example.com"
    answer = await anonymous.get(
        f"{suite.url('intake')}/v1/capture/{key}", params={"tel": "054-3332211", "mail": mail, "src": "גוגל", "gclid": "abc"}
    )
    assert answer.status_code == 202, answer.text
    done = await finished(http, suite, answer.json()["submission_id"])
    assert done["decision"] == "create" and done["raw"] == {"gclid": "abc"}
    created = await card(http, suite, done["customer_id"])
    assert created["last_name"] == "No Name From Web" and created["website_last_token"] == "Hot Lead"
    assert created["fields"] == {"source": "גוגל"} and created["created_by"] == f"web:{await suite.channel_id(key)}"
    assert created["phones"][0]["e164"] == "+972543332211"

    again = await anonymous.post(f"{suite.url('intake')}/v1/capture/{key}", json={"mail": mail.upper(), "name": "Ruth Cohen"})
    enriched = await finished(http, suite, again.json()["submission_id"])
    assert enriched["decision"] == "enrich" and enriched["customer_id"] == done["customer_id"]
    updated = await card(http, suite, done["customer_id"])
    assert updated["last_name"] == "Cohen" and updated["first_name"] == "Ruth", "a placeholder name is filled, never a real one overwritten"

    async def alert() -> bool:
        page = (
            await http.get(f"{suite.url('timeline')}/v1/customers/{done['customer_id']}/timeline", params={"kind": "duplicate_submission"})
        ).json()
        return len(page["items"]) == 1

    await eventually(alert, what="the duplicate-submission alert")


async def test_web_refusals_signature_redirect_and_honeypot(suite: E2ESuite, http: httpx.AsyncClient, anonymous: httpx.AsyncClient) -> None:
    secret = "s3cret-s3cret-s3cret"
    key = await channel(http, suite, "web", hmac_secret=secret, redirect_url="https://example.com/thanks", honeypot_field="website")
    url = f"{suite.url('intake')}/v1/capture/{key}"
    body = f"name=Dan+Bot&email={unique('sig')}%40example.com".encode()
    form = {"content-type": "application/x-www-form-urlencoded"}
    unsigned = await anonymous.post(url, content=body, headers=form)
    assert unsigned.status_code == 401 and unsigned.json()["field"] == "X-Signature"
    now = int(time.time())
    signature = hmac.new(secret.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    signed = await anonymous.post(url, content=body, headers={**form, "X-Signature": f"t={now},v1={signature}"})
    assert signed.status_code == 303 and signed.headers["location"].startswith("https://example.com/thanks?submission_id=")
    submission_id = signed.headers["location"].split("=", 1)[1]
    assert (await finished(http, suite, submission_id))["decision"] == "create"

    plain = await channel(http, suite, "web", honeypot_field="website")
    bot = await anonymous.post(
        f"{suite.url('intake')}/v1/capture/{plain}", json={"email": unique("bot") + "@example.com", "website": "http://spam"}
    )
    assert bot.status_code == 202, "a bot is not told it was caught"
    caught = (await http.get(f"{suite.url('intake')}/v1/submissions/{bot.json()['submission_id']}")).json()
    assert caught["state"] == "rejected" and caught["customer_id"] is None and caught["errors"][0]["field"] == "website"

    missing = await anonymous.post(f"{suite.url('intake')}/v1/capture/{plain}", data={"name": "No Contact"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "phones"


async def test_portal_registration_with_broker_and_no_new_card_for_a_known_person(
    suite: E2ESuite, http: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    email = unique("portal") + "@example.com"
    body = {"first_name": "Avi", "last_name": "Portal", "emails": [email], "affiliate": {"name": "Broker Ltd", "account_number": "A-17"}}
    first = await anonymous.post(f"{suite.url('intake')}/v1/portal/registrations", headers={"X-Channel-Key": "dev-portal-key"}, json=body)
    done = await finished(http, suite, first.json()["submission_id"])
    assert done["decision"] == "create"
    assert (await card(http, suite, done["customer_id"]))["broker"] == {"name": "Broker Ltd", "account_number": "A-17"}
    second = await anonymous.post(f"{suite.url('intake')}/v1/portal/registrations", headers={"X-Channel-Key": "dev-portal-key"}, json=body)
    skipped = await finished(http, suite, second.json()["submission_id"])
    assert skipped["decision"] == "skip" and skipped["customer_id"] == done["customer_id"]
    assert await suite.scalar("customer", "select count(*) from customers where emails->0->>'value' = $1", email) == 1


async def test_edge_protection_rate_limit_body_size_and_id_check_digit(
    suite: E2ESuite, http: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    key = await channel(http, suite, "api", rate_limit_per_minute=3)
    url = f"{suite.url('intake')}/v1/leads"
    answers = [
        await anonymous.post(url, headers={"X-Channel-Key": key}, json={"emails": [unique("rl") + "@example.com"]}) for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert int(answers[3].headers["retry-after"]) >= 1
    too_big = await anonymous.post(url, headers={"X-Channel-Key": "dev-api-key"}, json={"notes": "x" * 400_000})
    assert too_big.status_code == 413 and too_big.headers["content-type"].startswith("application/problem+json")
    bad_id = await anonymous.post(url, headers={"X-Channel-Key": "dev-api-key"}, json={"last_name": "Id", "national_id": "123456789"})
    assert bad_id.status_code == 422 and bad_id.json()["errors"][0]["field"] == "national_id"
    good_id = await anonymous.post(url, headers={"X-Channel-Key": "dev-api-key"}, json={"last_name": "Id", "national_id": "123456782"})
    assert good_id.status_code == 202
    disabled = await channel(http, suite, "api")
    switched = await http.patch(f"{suite.url('intake')}/v1/channels/{await suite.channel_id(disabled)}", json={"active": False})
    assert switched.status_code == 200, switched.text
    await asyncio.sleep(5.5)  # the channel cache of the intake process holds a key for 5 s
    assert (await anonymous.post(url, headers={"X-Channel-Key": disabled}, json={"emails": ["a@b.co"]})).status_code == 403


def csv_bytes(rows: list[list[str]], encoding: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode(encoding)


async def wait_import(http: httpx.AsyncClient, suite: E2ESuite, job_id: str, timeout: float = 120) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        job = (await http.get(f"{suite.url('intake')}/v1/imports/{job_id}")).json()
        return job if job["state"] == "done" else None

    return await eventually(done, timeout=timeout, interval=0.5, what=f"import {job_id} done")  # type: ignore[return-value]


async def test_import_csv_windows_1255_and_xlsx_with_policies_and_row_errors(
    suite: E2ESuite, http: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    tag = unique("imp")
    rows = [["שם פרטי", "שם משפחה", "טלפון", 'דוא"ל', "עיר"]]
    rows += [["נועה", f"{tag}-{i}", f"052{i:07d}", f"{tag}.{i}@example.com", "חיפה"] for i in range(20)]
    rows += [["שגיאה", "בטלפון", "abc", "", ""]]
    upload = {"file": ("לקוחות.csv", csv_bytes(rows, "cp1255"), "text/csv")}
    first = await anonymous.post(
        f"{suite.url('intake')}/v1/imports", headers={"X-Channel-Key": "dev-import-key"}, files=upload, data={"policy": "skip"}
    )
    assert first.status_code == 202, first.text
    job = await wait_import(http, suite, first.json()["id"])
    assert (job["rows_total"], job["created"], job["failed"]) == (21, 20, 1)
    assert job["errors"] == [{"row": 22, "field": "phones[0]", "message": job["errors"][0]["message"]}]
    assert job["columns"] == {"שם פרטי": "first_name", "שם משפחה": "last_name", "טלפון": "phone", 'דוא"ל': "email"}
    assert job["ignored_columns"] == ["עיר"], "an unknown column is listed on the job"

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["First name", "Last name", "Mobile", "E-mail"])
    for i in range(5):
        sheet.append(["Noa", f"{tag}-{i}", 520000000 + i, f"{tag}.{i}@example.com"])  # Excel ate the leading zero
    xlsx = io.BytesIO()
    book.save(xlsx)
    for policy, counter in (("skip", "skipped"), ("fill_missing", "updated"), ("reset_status", "updated")):
        upload = {"file": ("again.xlsx", xlsx.getvalue(), "application/octet-stream")}
        answer = await anonymous.post(
            f"{suite.url('intake')}/v1/imports", headers={"X-Channel-Key": "dev-import-key"}, files=upload, data={"policy": policy}
        )
        job = await wait_import(http, suite, answer.json()["id"])
        assert job[counter] == 5 and job["created"] == 0, (policy, job)

    # The job counts dedup's decisions; customer-svc applies them a moment later.
    async def renewed() -> bool:
        sql = "select count(*) from customers where last_name like $1 and website_last_token = 'Renewed'"
        return await suite.scalar("customer", sql, f"{tag}-%") == 5

    await eventually(renewed, what="five renewed cards")

    refused = await anonymous.post(
        f"{suite.url('intake')}/v1/imports",
        headers={"X-Channel-Key": "dev-import-key"},
        files={"file": ("x.csv", b"a,b\n1,2\n")},
        data={"policy": "merge"},
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "policy"


async def test_import_survives_a_restart_of_intake_mid_file_and_processes_every_row_once(
    suite: E2ESuite, http: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    tag = unique("big")
    total = 1500
    rows = [["first name", "last name", "phone", "email"]] + [
        ["Big", f"{tag}-{i}", f"053{i:07d}", f"{tag}.{i}@example.com"] for i in range(total)
    ]
    upload = {"file": ("big.csv", csv_bytes(rows, "utf-8-sig"), "text/csv")}
    answer = await anonymous.post(
        f"{suite.url('intake')}/v1/imports", headers={"X-Channel-Key": "dev-import-key"}, files=upload, data={"policy": "skip"}
    )
    job_id = answer.json()["id"]

    async def started() -> bool:
        job = (await http.get(f"{suite.url('intake')}/v1/imports/{job_id}")).json()
        return bool(0 < job["rows_read"] < total)

    await eventually(started, timeout=60, interval=0.05, what="the import to be part-way through")
    intake = next(p for p in suite.processes if p.name == "intake")
    intake.kill()
    await asyncio.sleep(1)
    intake.start()
    await asyncio.to_thread(intake.wait_ready)
    job = await wait_import(http, suite, job_id, timeout=240)
    assert (job["rows_total"], job["created"], job["failed"], job["rows_done"]) == (total, total, 0, total)
    assert await suite.scalar("intake", "select count(*) from submissions where job_id = $1", uuid.UUID(job_id)) == total

    async def cards() -> bool:  # the job counts decisions; the cards land in customer-svc right after
        return await suite.scalar("customer", "select count(*) from customers where last_name like $1", f"{tag}-%") == total

    await eventually(cards, timeout=60, what=f"{total} cards")


async def test_custom_field_values_are_checked_at_the_edge_against_the_workspace_definitions(
    suite: E2ESuite, http: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    """The seed defines `budget` (number) and `interest` (multi select) in customer-svc."""
    api = {"X-Channel-Key": "dev-api-key"}
    bad = await anonymous.post(
        f"{suite.url('intake')}/v1/leads", headers=api, json={"last_name": "F", "phones": ["0529990001"], "fields": {"budget": "lots"}}
    )
    assert bad.status_code == 422 and bad.json()["errors"] == [{"field": "fields.budget", "message": "must be a number"}]
    good = await anonymous.post(
        f"{suite.url('intake')}/v1/leads",
        headers=api,
        json={"last_name": "F", "emails": [unique("f") + "@x.io"], "fields": {"budget": "1,500", "interest": "cars", "utm": "x"}},
    )
    assert good.status_code == 202, good.text
    done = await finished(http, suite, good.json()["submission_id"])
    created = await card(http, suite, done["customer_id"])
    assert created["fields"] == {"budget": 1500, "interest": ["cars"]} and created["unknown_fields"] == {"utm": "x"}

    tag = unique("cf")
    rows = [["Last name", "E-mail", "Budget"], [f"{tag}-ok", f"{tag}.1@example.com", "200"], [f"{tag}-bad", f"{tag}.2@example.com", "x"]]
    answer = await anonymous.post(
        f"{suite.url('intake')}/v1/imports",
        headers={"X-Channel-Key": "dev-import-key"},
        files={"file": ("f.csv", csv_bytes(rows, "utf-8"), "text/csv")},
        data={"policy": "skip", "mapping": '{"Budget": "fields.budget"}'},
    )
    job = await wait_import(http, suite, answer.json()["id"])
    assert (job["created"], job["failed"]) == (1, 1)
    assert job["errors"] == [{"row": 3, "field": "fields.budget", "message": "must be a number"}]


async def test_a_poison_import_row_is_a_row_error_and_the_good_rows_around_it_become_cards(
    suite: E2ESuite, http: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    tag = unique("nul")
    rows = [["first name", "last name", "email"]]
    rows += [["Good", f"{tag}-{i}", f"{tag}.{i}@example.com"] for i in range(3)]
    rows.insert(2, ["Bad", f"{tag}-x\x00", f"{tag}.x@example.com"])  # sheet row 3
    upload = {"file": ("nul.csv", csv_bytes(rows, "utf-8"), "text/csv")}
    answer = await anonymous.post(
        f"{suite.url('intake')}/v1/imports", headers={"X-Channel-Key": "dev-import-key"}, files=upload, data={"policy": "skip"}
    )
    assert answer.status_code == 202, answer.text
    job = await wait_import(http, suite, answer.json()["id"])
    assert (job["rows_total"], job["created"], job["failed"]) == (4, 3, 1)
    assert [(e["row"], e["field"]) for e in job["errors"]] == [(3, "last_name")]

    async def cards() -> bool:
        return await suite.scalar("customer", "select count(*) from customers where last_name like $1", f"{tag}-%") == 3

    await eventually(cards, timeout=60, what="three cards")


async def test_concurrent_leads_with_bad_ones_only_the_bad_ones_are_refused(
    suite: E2ESuite, http: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    tag = unique("grp")
    bodies = [{"last_name": f"{tag}-{i}" + ("\x00" if i % 10 == 7 else ""), "emails": [f"{tag}.{i}@example.com"]} for i in range(40)]
    answers = await asyncio.gather(
        *(anonymous.post(f"{suite.url('intake')}/v1/leads", headers={"X-Channel-Key": "dev-api-key"}, json=b) for b in bodies)
    )
    assert sorted(a.status_code for a in answers) == [202] * 36 + [422] * 4, [a.text for a in answers if a.status_code != 202]
    accepted = [a.json()["submission_id"] for a in answers if a.status_code == 202]
    await asyncio.gather(*(finished(http, suite, submission_id) for submission_id in accepted))
    assert await suite.scalar("customer", "select count(*) from customers where last_name like $1", f"{tag}-%") == 36
