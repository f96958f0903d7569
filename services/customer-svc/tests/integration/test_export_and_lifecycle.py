"""Export (CSV/XLSX), soft delete and restore, and erasure, against the real PostgreSQL.

The app here is customer-svc's routers in `entrypoints/app.py` order (export and lifecycle
routes before the card routes, whose `/customers/{customer_id}` would take `export`)."""

import csv
import io
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import openpyxl
import pytest
from sqlalchemy import text

from crm_contracts import topics
from crm_contracts.events import CustomerAuditRecorded
from crm_contracts.permissions import Action, FieldAccess, Role
from crm_devtools.tokens import TESTER, Member
from crm_runtime.auth import Identity
from crm_runtime.http import create_app
from customer_svc.adapters.repository import CustomerRepository
from customer_svc.domain.card import Card
from customer_svc.domain.filters import CardFilter
from customer_svc.entrypoints.api import build_router
from customer_svc.entrypoints.export_api import build_export_router
from customer_svc.entrypoints.lifecycle_api import build_lifecycle_router
from customer_svc.entrypoints.members_api import build_members_router
from customer_svc.service_layer.export import Exporter

from .conftest import Customers

pytestmark = pytest.mark.integration

REP_A = uuid.UUID("00000000-0000-4000-8000-00000000000a")
REP_B = uuid.UUID("00000000-0000-4000-8000-00000000000b")
DANA = "rep-dana"  # a sales rep linked to REP_A
MANAGER = "manager-1"
AUDIT_TOPIC = topics.audit("customer")


class Harness:
    def __init__(self, customers: Customers) -> None:
        self.c = customers
        container = customers.container
        routers = [
            build_export_router(container),
            build_lifecycle_router(container),
            build_router(container),
            build_members_router(container),
        ]
        app = create_app(container.runtime, routers, title="customer-svc")
        self.transport = httpx.ASGITransport(app=app)
        self.memberships = customers.memberships
        self.memberships.grant(DANA, "main", Role.SALES_REP, rep_id=REP_A)
        self.memberships.grant(MANAGER, "main", Role.MANAGER)
        self.admin = self.client(Member(customers.issuer, self.memberships))

    def client(self, auth: httpx.Auth | None = None, subject: str | None = None) -> httpx.AsyncClient:
        headers = {"X-Workspace": "main"}
        if subject is not None:
            headers |= self.c.issuer.headers(subject)
        return httpx.AsyncClient(transport=self.transport, base_url="http://customer", auth=auth, headers=headers)

    async def cards(self, *cards: Card) -> None:
        async with self.c.container.runtime.sessions() as session, session.begin():
            await CustomerRepository(session).add_many(list(cards))

    async def audit(self, action: str) -> list[dict[str, Any]]:
        return [e["data"] for _, e in await self.c.outbox(AUDIT_TOPIC) if e["data"]["action"] == action]

    async def row(self, customer_id: uuid.UUID | str) -> Any:
        async with self.c.container.runtime.sessions() as session:
            return (await session.execute(text("SELECT * FROM customers WHERE id = :i"), {"i": str(customer_id)})).first()


def card(number: int, owner: uuid.UUID | None = None, **values: Any) -> Card:
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=number - 500_000)
    base: dict[str, Any] = {
        "last_name": f"Card{number}",
        "national_id": "000000018",
        "phones": [{"value": "050-1234567", "e164": "+972501234567", "primary": True}],
    }
    return Card(id=uuid.uuid4(), workspace="main", number=number, created_by="ui:tester", created_at=at, owner_id=owner, **(base | values))


@pytest.fixture
async def h(customers: Customers) -> AsyncIterator[Harness]:
    harness = Harness(customers)
    yield harness
    await harness.admin.aclose()


def read_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith("\ufeff".encode()), "UTF-8 with a BOM, for Excel"
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


# -- export ------------------------------------------------------------------------------------


async def test_a_reps_export_holds_only_own_cards_and_no_hidden_field(h: Harness) -> None:
    colour = {"key": "colour", "label": "Colour", "kind": "text"}
    secret = {"key": "secret", "label": "Secret", "kind": "text"}
    for definition in (colour, secret):
        assert (await h.admin.post("/v1/field-definitions", json=definition)).status_code == 201
    own = [card(500_000 + i, REP_A, fields={"colour": "כחול", "secret": "s"}, first_name="דנה") for i in range(3)]
    team = card(500_010, REP_B, team_member_ids=[REP_A])  # a team member on the card: own too
    others = [card(500_020, REP_B), card(500_021, None)]
    await h.cards(*own, team, *others)
    rep = h.memberships.permissions("main", Role.SALES_REP)
    h.memberships.set_role(
        "main",
        Role.SALES_REP,
        rep.model_copy(
            update={
                "actions": rep.actions | {Action.EXPORT},
                "fields": {"national_id": FieldAccess.HIDDEN, "fields.secret": FieldAccess.HIDDEN},
            }
        ),
    )
    async with h.client(subject=DANA) as dana:
        answer = await dana.get("/v1/customers/export", params={"format": "csv"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == f'attachment; filename="customers-main-{datetime.now(UTC).date()}.csv"'
    rows = read_csv(answer.content)
    assert sorted(int(r["number"]) for r in rows) == [500_000, 500_001, 500_002, 500_010]
    assert "national_id" not in rows[0] and "fields.secret" not in rows[0]
    assert rows[0]["fields.colour"] in ("כחול", "") and "000000018" not in answer.content.decode("utf-8-sig")
    assert {r["first_name"] for r in rows if int(r["number"]) < 500_010} == {"דנה"}
    assert rows[-1]["phones"] == "050-1234567"  # newest first: the team card, created last
    lines = await h.audit("customers.export")
    assert [(line["actor"], line["detail"]["phase"], line["detail"].get("rows")) for line in lines] == [
        (DANA, "started", None),
        (DANA, "finished", 4),
    ]
    assert lines[0]["detail"]["format"] == "csv"

    # the administrator's export holds every card and every column
    everything = read_csv((await h.admin.get("/v1/customers/export", params={"owner_id": str(REP_B)})).content)
    assert sorted(int(r["number"]) for r in everything) == [500_010, 500_020]
    assert {"national_id", "fields.colour", "fields.secret"} <= set(everything[0])


async def test_an_export_never_tells_a_hidden_fields_value_through_its_filters_or_search(h: Harness) -> None:
    """As the list: a filter on a hidden field is a 403 naming it, and a card found only through
    a hidden field (here the national id) is left out of the file."""
    assert (await h.admin.post("/v1/field-definitions", json={"key": "secret", "label": "Secret", "kind": "text"})).status_code == 201
    await h.cards(card(500_030, REP_A, national_id="123456782", fields={"secret": "s"}), card(500_031, REP_A, last_name="Levi"))
    rep = h.memberships.permissions("main", Role.SALES_REP)
    hidden = {"national_id": FieldAccess.HIDDEN, "fields.secret": FieldAccess.HIDDEN}
    h.memberships.set_role("main", Role.SALES_REP, rep.model_copy(update={"actions": rep.actions | {Action.EXPORT}, "fields": hidden}))
    async with h.client(subject=DANA) as dana:
        refused = await dana.get("/v1/customers/export", params={"field.secret": "s"})
        assert refused.status_code == 403 and refused.json()["fields"] == ["fields.secret"]
        by_id = read_csv((await dana.get("/v1/customers/export", params={"q": "123456782"})).content)
        by_name = read_csv((await dana.get("/v1/customers/export", params={"q": "levi"})).content)
    assert by_id == []  # the card holds that id, but the rep cannot see it: nothing tells it
    assert [int(r["number"]) for r in by_name] == [500_031]
    everything = read_csv((await h.admin.get("/v1/customers/export", params={"q": "123456782"})).content)
    assert [int(r["number"]) for r in everything] == [500_030]


async def test_formula_cells_are_neutralised_in_csv_and_xlsx(h: Harness) -> None:
    evil = card(
        500_000,
        first_name='=HYPERLINK("http://x","y")',
        last_name="+972",
        company_name="@SUM(A1)",
        branch="-1+2",
        tags=["\tx", "fine"],
        phones=[{"value": "050-2", "primary": False}, {"value": "+97252", "primary": True}],
        folder="\rcr",
    )
    await h.cards(evil, card(500_001, last_name="plain"))
    rows = read_csv((await h.admin.get("/v1/customers/export")).content)
    bad = next(r for r in rows if r["number"] == "500000")
    assert bad["first_name"] == '\'=HYPERLINK("http://x","y")'
    assert (bad["last_name"], bad["company_name"], bad["branch"], bad["folder"]) == ("'+972", "'@SUM(A1)", "'-1+2", "'\rcr")
    assert bad["tags"] == "'\tx; fine" and bad["phones"] == "'+97252; 050-2"  # primary first
    assert next(r for r in rows if r["number"] == "500001")["last_name"] == "plain"

    answer = await h.admin.get("/v1/customers/export", params={"format": "xlsx"})
    assert answer.status_code == 200 and answer.headers["content-disposition"].endswith('.xlsx"')
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
    assert sheet is not None
    table = [list(r) for r in sheet.iter_rows()]
    header = [c.value for c in table[0]]
    assert header[:3] == ["number", "card_type", "status"] and len(table) == 3
    cells = {header[i]: c for i, c in enumerate(next(r for r in table[1:] if r[0].value == 500_000))}
    assert cells["first_name"].value == '\'=HYPERLINK("http://x","y")' and cells["first_name"].data_type == "s"
    assert cells["last_name"].value == "'+972" and cells["number"].data_type == "n"


async def test_an_export_is_refused_without_the_export_right_and_bad_parameters_are_named(h: Harness) -> None:
    async with h.client(subject=DANA) as dana:
        refused = await dana.get("/v1/customers/export")
    assert refused.status_code == 403 and refused.json()["permission"] == "actions.export"
    assert [line["permission"] for line in await h.audit("refused")] == ["actions.export"]
    unknown = await h.admin.get("/v1/customers/export", params={"format": "pdf"})
    assert unknown.status_code == 422 and [e["field"] for e in unknown.json()["errors"]] == ["format"]
    assert await h.audit("customers.export") == []


async def test_a_big_export_streams_in_bounded_memory(h: Harness) -> None:
    total = 20_000
    batch = [card(500_000 + i, REP_A, first_name="א" * 40, emails=[{"value": f"p{i}@example.com", "primary": True}]) for i in range(total)]
    for start in range(0, total, 5000):
        await h.cards(*batch[start : start + 5000])
    del batch
    container = h.c.container
    exporter = Exporter(container.runtime.sessions, container.definitions, container.runtime.audit, chunk=500)
    h.memberships.grant(TESTER, "main", Role.ADMINISTRATOR)
    identity = Identity(TESTER, "test", ("crm-api",), datetime.now(UTC) + timedelta(hours=1), "crm-console")
    admin = container.runtime.access.caller(identity, "main")

    async def csv_export(where: CardFilter) -> tuple[int, int, int]:
        """(bytes, lines, traced peak) of a CSV export consumed piece by piece."""
        tracemalloc.start()
        try:
            size = lines = 0
            async for piece in exporter.csv(admin, where, {"format": "csv"}):
                size += len(piece)
                lines += piece.count(b"\n")
            return size, lines, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    await csv_export(CardFilter(created_to=datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)))  # warm: plans, caches, imports
    _, small_lines, small_peak = await csv_export(CardFilter(created_to=datetime(2026, 1, 1, 0, 20, tzinfo=UTC)))
    size, lines, peak = await csv_export(CardFilter())
    print(
        f"csv export: {small_lines - 1} rows traced peak {small_peak / 1e6:.2f} MB; "
        f"{lines - 1} rows ({size / 1e6:.1f} MB written) traced peak {peak / 1e6:.2f} MB"
    )
    assert (small_lines, lines) == (1201, total + 1)
    assert peak < 1.5 * small_peak, "memory does not grow with the rows: they are streamed, not gathered"

    async def xlsx_export(where: CardFilter) -> tuple[int, int, int]:
        """(rows, file bytes, traced peak) of an XLSX export."""
        tracemalloc.start()
        try:
            done = await exporter.xlsx(admin, where, {"format": "xlsx"})
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        try:
            return done.rows, done.path.stat().st_size, peak
        finally:
            done.remove()

    small_rows, _, small_peak = await xlsx_export(CardFilter(created_to=datetime(2026, 1, 1, 0, 20, tzinfo=UTC)))
    rows, written, peak = await xlsx_export(CardFilter())
    print(
        f"xlsx export: {small_rows} rows traced peak {small_peak / 1e6:.2f} MB; {rows} rows ({written / 1e6:.1f} MB file) traced peak {peak / 1e6:.2f} MB"
    )
    assert (small_rows, rows) == (1200, total)
    assert peak < 1.5 * small_peak


# -- delete, restore -----------------------------------------------------------------------------


async def test_a_deleted_card_is_absent_until_an_administrator_restores_it(h: Harness) -> None:
    made = await h.c.create({"last_name": "Gone", "phones": ["050-7654321"]})
    cid = made["id"]
    async with h.client(subject=DANA) as dana:
        refused = await dana.delete(f"/v1/customers/{cid}")
    assert refused.status_code == 403 and refused.json()["permission"] == "actions.delete"
    async with h.client(subject=MANAGER) as manager:
        assert (await manager.delete(f"/v1/customers/{cid}")).status_code == 204
        assert (await manager.get(f"/v1/customers/{cid}")).status_code == 404
        assert (await manager.delete(f"/v1/customers/{cid}")).status_code == 404
        assert cid not in [c["id"] for c in (await manager.get("/v1/customers")).json()["items"]]
        assert (await manager.post(f"/v1/customers/{cid}/restore")).status_code == 403  # administrators only
    row = await h.row(cid)
    assert row.deleted_at is not None and row.deleted_by == MANAGER
    assert await h.c.events("crm.customer.deleted.v1", cid) == [{"customer_id": cid, "workspace": "main", "actor": MANAGER}]
    assert [(line["actor"], line["target_id"]) for line in await h.audit("customer.delete")] == [(MANAGER, cid)]
    assert made["number"] not in [int(r["number"]) for r in read_csv((await h.admin.get("/v1/customers/export")).content)]

    deleted = (await h.admin.get("/v1/customers/deleted")).json()
    assert [(d["id"], d["last_name"], d["deleted_by"]) for d in deleted["items"]] == [(cid, "Gone", MANAGER)]

    restored_answer = await h.admin.post(f"/v1/customers/{cid}/restore")
    assert restored_answer.status_code == 200 and restored_answer.json() == {"customer_id": cid, "number": made["number"]}
    assert (await h.admin.get(f"/v1/customers/{cid}")).status_code == 200
    assert cid in [c["id"] for c in (await h.admin.get("/v1/customers")).json()["items"]]
    again = await h.admin.post(f"/v1/customers/{cid}/restore")
    assert again.status_code == 409 and again.json()["rule"] == "not_deleted"
    restored = await h.c.events("crm.customer.restored.v1", cid)
    assert restored[0]["customer"]["last_name"] == "Gone" and restored[0]["actor"]
    assert len(await h.audit("customer.restore")) == 1
    assert (await h.admin.get("/v1/customers/deleted")).json()["items"] == []


async def test_a_rep_cannot_delete_a_card_outside_their_scope(h: Harness) -> None:
    other = card(500_000, REP_B)
    await h.cards(other)
    rep = h.memberships.permissions("main", Role.SALES_REP)
    h.memberships.set_role("main", Role.SALES_REP, rep.model_copy(update={"actions": rep.actions | {Action.DELETE}}))
    async with h.client(subject=DANA) as dana:
        assert (await dana.delete(f"/v1/customers/{other.id}")).status_code == 404
    assert (await h.row(other.id)).deleted_at is None


# -- erasure -------------------------------------------------------------------------------------


async def test_an_erasure_removes_the_persons_data_for_good(h: Harness) -> None:
    made = await h.c.create(
        {"first_name": "רות", "last_name": "כהן", "phones": ["050-1234567"], "emails": ["ruth@example.com"], "national_id": "000000018"}
    )
    cid = made["id"]
    assert (
        await h.admin.post(f"/v1/customers/{cid}/contacts", json={"full_name": "אבי כהן", "phones": ["052-1111111"]})
    ).status_code == 201
    async with h.c.container.runtime.sessions() as session, session.begin():
        await CustomerRepository(session).add_duplicate_lead(uuid.uuid4(), "main", uuid.UUID(cid), "web", {"last_name": "כהן"})
    for branch in ("תל אביב", "חיפה"):
        assert (await h.admin.patch(f"/v1/customers/{cid}", json={"branch": branch, "last_name": f"כהן {branch}"})).status_code == 200
    edits = [line for line in await h.audit("customer.update") if line["target_id"] == cid]
    assert len(edits) == 2 and "כהן" in str(edits)
    await h.c.deliver(CustomerAuditRecorded.model_validate(edits[0]))  # kept before the erasure

    wrong = await h.admin.post(f"/v1/customers/{cid}/erase", json={"reason": "privacy request #7", "confirm_number": made["number"] + 1})
    assert wrong.status_code == 422 and [e["field"] for e in wrong.json()["errors"]] == ["confirm_number"]
    no_reason = await h.admin.post(f"/v1/customers/{cid}/erase", json={"confirm_number": made["number"]})
    assert no_reason.status_code == 422 and [e["field"] for e in no_reason.json()["errors"]] == ["reason"]
    async with h.client(subject=MANAGER) as manager:
        body = {"reason": "privacy request #7", "confirm_number": made["number"]}
        assert (await manager.post(f"/v1/customers/{cid}/erase", json=body)).status_code == 403

    done = await h.admin.post(f"/v1/customers/{cid}/erase", json={"reason": "privacy request #7", "confirm_number": made["number"]})
    assert done.status_code == 200, done.text
    assert (done.json()["contacts"], done.json()["duplicate_leads"], done.json()["erased_ids"]) == (1, 1, [cid])

    row = await h.row(cid)
    assert (row.first_name, row.last_name, row.national_id, row.phones, row.emails, row.search_doc) == (None, None, None, [], [], "")
    assert row.erased_at is not None and row.deleted_at is not None
    assert (row.number, row.status, row.workspace) == (made["number"], made["status"], "main")
    async with h.c.container.runtime.sessions() as session:
        assert (await session.execute(text("SELECT count(*) FROM contacts WHERE customer_id = :i"), {"i": cid})).scalar() == 0
        assert (await session.execute(text("SELECT count(*) FROM duplicate_leads WHERE customer_id = :i"), {"i": cid})).scalar() == 0
    assert await h.c.events("crm.customer.erased.v1", cid) == [{"customer_id": cid, "actor": "tester-0000"}]
    assert len(await h.c.events("crm.customer.deleted.v1", cid)) == 1  # absent from other services' lists too
    erase_line = (await h.audit("customer.erase"))[0]
    assert erase_line["target_id"] == cid and erase_line["detail"]["reason"] == "privacy request #7"
    assert "כהן" not in str(erase_line) and "050" not in str(erase_line)

    assert done.json()["audit_lines"] == 1
    await h.c.deliver(CustomerAuditRecorded.model_validate(edits[1]))  # staged before the erasure, kept after it
    async with h.c.container.runtime.sessions() as session:
        kept = (await session.execute(text("SELECT before, after, detail FROM audit_log WHERE target_id = :i"), {"i": cid})).all()
    assert [(line.before, line.after, line.detail["redacted"]) for line in kept] == [(None, None, True), (None, None, True)]

    assert (await h.admin.get(f"/v1/customers/{cid}")).status_code == 404
    assert (await h.admin.post(f"/v1/customers/{cid}/restore")).status_code == 410
    assert (await h.admin.post(f"/v1/customers/{cid}/erase", json={"reason": "again", "confirm_number": made["number"]})).status_code == 410
    async with h.client(subject=MANAGER) as manager:
        assert (await manager.delete(f"/v1/customers/{cid}")).status_code == 404  # 410 only for administrators
