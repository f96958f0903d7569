"""The manager's view (issue 18): `GET /v1/customers/counts?by=...` groups the cards by status,
owner, source channel and affiliate in SQL, within the caller's scope (a rep counts only her
cards), with the list's filters; deleted and merged-away cards are not counted; a hidden field
may not be counted by; the path is not taken for a card id."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from crm_contracts.events import Role
from crm_contracts.permissions import FieldAccess, default_roles
from crm_devtools.tokens import Member
from crm_runtime.http import create_app
from customer_svc.adapters.repository import CustomerRepository
from customer_svc.adapters.tables import customers as customers_table
from customer_svc.domain.card import Card
from customer_svc.entrypoints import counts_api
from customer_svc.entrypoints.api import build_router

from .conftest import Customers

pytestmark = pytest.mark.integration

DANA, YOSSI = uuid.UUID(int=0xD0), uuid.UUID(int=0x50)
WEB, IMPORT = uuid.UUID(int=0xAB), uuid.UUID(int=0xCD)
ACME = {"name": "Acme Affiliates", "account_number": "S-17"}
NAMED_ONLY = {"name": "שותף בלי מספר"}


@pytest.fixture
async def http(customers: Customers) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the counts router before the card routes, as `entrypoints.app` builds it."""
    app = create_app(customers.container.runtime, [counts_api.router, build_router(customers.container)], title="customer-svc")
    app.state.container = customers.container
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://customer",
        auth=Member(customers.issuer, customers.memberships),
        headers={"X-Workspace": "main"},
    )
    yield client
    await client.aclose()


async def seed(customers: Customers, rows: list[dict[str, Any]], workspace: str = "main") -> list[Card]:
    async with customers.container.runtime.sessions() as session, session.begin():
        start = 700_000 + int(await session.scalar(select(func.count()).select_from(customers_table)) or 0)
        now = datetime.now(UTC)
        cards = [
            Card(
                id=uuid.uuid4(),
                workspace=workspace,
                number=start + i,
                created_at=now - timedelta(minutes=i),
                **{"created_by": "test", **row},
            )
            for i, row in enumerate(rows)
        ]
        await CustomerRepository(session).add_many(cards)
    return cards


def member(customers: Customers, role: Role, rep_id: uuid.UUID | None = None) -> dict[str, str]:
    subject = f"{role.value}-{uuid.uuid4().hex[:6]}"
    customers.memberships.grant(subject, "main", role, rep_id=rep_id)
    headers: dict[str, str] = customers.issuer.headers(subject, workspace="main")
    return headers


def table(answer: httpx.Response) -> dict[str | None, int]:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == sum(item["count"] for item in body["items"])
    return {item["key"]: item["count"] for item in body["items"]}


ROWS: list[dict[str, Any]] = [
    {"owner_id": DANA, "status": "new", "created_by": f"web:{WEB}", "broker": ACME},
    {"owner_id": DANA, "status": "new", "created_by": f"import:{IMPORT}", "broker": ACME},
    {"owner_id": DANA, "status": "in_progress", "created_by": "ui:rep.dana", "broker": NAMED_ONLY},
    {"owner_id": YOSSI, "status": "new", "created_by": f"web:{WEB}"},
    {"owner_id": YOSSI, "status": "not_interested", "created_by": "copy:manager"},
    {"owner_id": None, "status": "new", "created_by": f"web:{WEB}", "broker": ACME},
]


async def test_counts_group_by_each_dimension_in_the_managers_scope(customers: Customers, http: httpx.AsyncClient) -> None:
    cards = await seed(customers, ROWS)
    await seed(customers, [{"owner_id": DANA, "status": "new"}], workspace="other")  # another workspace: never counted
    gone, merged = await seed(customers, [{"owner_id": DANA, "status": "new"}, {"owner_id": DANA, "status": "new"}])
    async with customers.container.runtime.sessions() as session, session.begin():
        c = customers_table.c
        await session.execute(update(customers_table).where(c.id == gone.id).values(deleted_at=datetime.now(UTC)))
        await session.execute(update(customers_table).where(c.id == merged.id).values(merged_into=cards[0].id))
    manager = member(customers, Role.MANAGER)

    by_status = await http.get("/v1/customers/counts", params={"by": "status"}, headers=manager)
    assert table(by_status) == {"new": 4, "in_progress": 1, "not_interested": 1}
    assert by_status.json()["by"] == "status" and by_status.json()["total"] == 6
    assert [i["key"] for i in by_status.json()["items"]][0] == "new", "largest first"

    assert table(await http.get("/v1/customers/counts", params={"by": "owner"}, headers=manager)) == {str(DANA): 3, str(YOSSI): 2, None: 1}

    channels = await http.get("/v1/customers/counts", params={"by": "channel"}, headers=manager)
    assert table(channels) == {str(WEB): 3, str(IMPORT): 1, "ui": 1, "copy": 1}
    assert {i["key"]: i["kind"] for i in channels.json()["items"]} == {str(WEB): "web", str(IMPORT): "import", "ui": "ui", "copy": "copy"}

    affiliates = await http.get("/v1/customers/counts", params={"by": "affiliate"}, headers=manager)
    assert table(affiliates) == {"S-17": 3, NAMED_ONLY["name"]: 1, None: 2}
    assert {i["key"]: i["label"] for i in affiliates.json()["items"]} == {
        "S-17": ACME["name"],
        NAMED_ONLY["name"]: NAMED_ONLY["name"],
        None: None,
    }


async def test_a_rep_counts_only_the_cards_she_reaches_and_the_lists_filters_apply(customers: Customers, http: httpx.AsyncClient) -> None:
    cards = await seed(customers, ROWS)
    dana = member(customers, Role.SALES_REP, rep_id=DANA)
    assert table(await http.get("/v1/customers/counts", params={"by": "status"}, headers=dana)) == {"new": 2, "in_progress": 1}
    assert table(await http.get("/v1/customers/counts", params={"by": "owner"}, headers=dana)) == {str(DANA): 3}
    # A rep on a card's team reaches it, and counts it.
    async with customers.container.runtime.sessions() as session, session.begin():
        await session.execute(update(customers_table).where(customers_table.c.id == cards[3].id).values(team_member_ids=[DANA]))
    assert table(await http.get("/v1/customers/counts", params={"by": "owner"}, headers=dana)) == {str(DANA): 3, str(YOSSI): 1}
    # A rep linked to no rep reaches no card.
    unlinked = member(customers, Role.SALES_REP)
    answer = await http.get("/v1/customers/counts", params={"by": "status"}, headers=unlinked)
    assert table(answer) == {} and answer.json()["total"] == 0

    manager = member(customers, Role.MANAGER)
    newest_three = {"by": "status", "created_from": (cards[2].created_at - timedelta(seconds=1)).isoformat()}
    assert table(await http.get("/v1/customers/counts", params=newest_three, headers=manager)) == {"new": 2, "in_progress": 1}
    only_web = {"by": "owner", "source": "web"}
    assert table(await http.get("/v1/customers/counts", params=only_web, headers=manager)) == {str(DANA): 1, str(YOSSI): 1, None: 1}
    new_only = {"by": "affiliate", "status": ["new"]}
    assert table(await http.get("/v1/customers/counts", params=new_only, headers=manager)) == {"S-17": 3, None: 1}


async def test_refusals_name_the_field_or_the_permission_and_the_path_is_no_card_id(customers: Customers, http: httpx.AsyncClient) -> None:
    await seed(customers, ROWS)
    unknown = await http.get("/v1/customers/counts", params={"by": "colour"})
    assert unknown.status_code == 422 and "by" in unknown.text
    missing = await http.get("/v1/customers/counts")
    assert missing.status_code == 422 and "by" in missing.text

    # A role hiding the broker may not count by affiliate (the counts would tell its values).
    hiding = default_roles()[Role.MANAGER].model_copy(update={"fields": {"broker": FieldAccess.HIDDEN}})
    customers.memberships.set_role("main", Role.MANAGER, hiding)
    manager = member(customers, Role.MANAGER)
    refused = await http.get("/v1/customers/counts", params={"by": "affiliate"}, headers=manager)
    assert (refused.status_code, refused.json()["permission"]) == (403, "fields.broker"), refused.text
    assert table(await http.get("/v1/customers/counts", params={"by": "status"}, headers=manager))["new"] == 4

    # A role without the search action is refused naming it.
    no_search = default_roles()[Role.READ_ONLY].model_copy(update={"actions": frozenset()})
    customers.memberships.set_role("main", Role.READ_ONLY, no_search)
    looker = member(customers, Role.READ_ONLY)
    refused = await http.get("/v1/customers/counts", params={"by": "status"}, headers=looker)
    assert (refused.status_code, refused.json()["permission"]) == (403, "actions.search")
