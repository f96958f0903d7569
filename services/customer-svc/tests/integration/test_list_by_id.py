"""`GET /v1/customers?id=…`: a page re-reading the rows it shows (the console's live header, the
related cards' names) gets only those cards, only within the caller's scope, and is not audited as
opening them (a live page would otherwise flood the audit log)."""

import uuid

import pytest

from crm_contracts import topics
from crm_contracts.events import Role

from .conftest import Customers
from .test_scope import DANA, YOSSI, member, seed

pytestmark = pytest.mark.integration


async def test_the_list_by_ids_answers_only_those_cards_in_scope_and_audits_no_opening(customers: Customers) -> None:
    mine = await seed(customers, [DANA, DANA, DANA], name="Mine")
    theirs = (await seed(customers, [YOSSI], name="Theirs"))[0]
    dana = member(customers, "dana-0001", Role.SALES_REP, DANA)
    wanted = [str(mine[0].id), str(mine[2].id), str(theirs.id), str(uuid.uuid4())]
    answer = await customers.http.get("/v1/customers", params={"id": wanted, "limit": 10}, headers=dana)
    assert answer.status_code == 200, answer.text
    assert [row["id"] for row in answer.json()["items"]] == [str(mine[0].id), str(mine[2].id)]  # newest first, hers only
    lines = [e["data"] for _, e in await customers.outbox(customers.container.settings.topic(topics.audit("customer")))]
    assert not [line for line in lines if line["action"] == "customer.open"]
    bad = await customers.http.get("/v1/customers", params={"id": "not-a-uuid"}, headers=dana)
    assert bad.status_code in (400, 422) and "id" in bad.text
    many = await customers.http.get("/v1/customers", params={"id": [str(uuid.uuid4()) for _ in range(51)]}, headers=dana)
    assert many.status_code in (400, 422), many.text
