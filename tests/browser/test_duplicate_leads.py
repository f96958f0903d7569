"""Duplicate leads in a real browser (screen 4, seed 000): rep.dana promotes one lead kept on a
card she works to a card of its own and dismisses another; the manager merges a third into the
found card (a sales rep's role has no merge: the button is absent for her). Axe in Hebrew and
English, 390 px wide, screenshots duplicate-leads-he / duplicate-leads-en."""

import secrets
from typing import Any

import pytest
from playwright.async_api import expect

from crm_devtools import browser as chromium

pytestmark = pytest.mark.browser


async def kept_leads(stack: Any, unique: str, count: int) -> tuple[dict[str, Any], list[str]]:
    """A card rep.dana works and `count` duplicate leads kept on it."""
    phone = "053" + f"{secrets.randbelow(10**7):07d}"
    url = stack.url("customer") + "/v1/customers"
    async with stack.api("rep.dana") as api:
        body = {"first_name": "Orig", "last_name": f"Found {unique}", "phones": [phone]}
        made = await api.post(url, json=body, params={"on_duplicate": "save_anyway"})
        assert made.status_code == 201, made.text
        card: dict[str, Any] = made.json()["customer"]
        leads = []
        for n in range(count):
            lead = {"first_name": f"Lead{n}", "last_name": f"Found {unique}", "phones": [phone], "emails": [f"dl.{unique}.{n}@example.com"]}
            kept = await api.post(url, json=lead, params={"on_duplicate": "duplicate_lead", "target_customer_id": card["id"]})
            assert kept.status_code == 201, kept.text
            leads.append(kept.json()["duplicate_lead_id"])
        return card, leads


async def table(stack: Any) -> list[str]:
    async with stack.api("admin") as api:
        answer = await api.get(stack.url("customer") + "/v1/duplicate-leads", params={"limit": 200})
        return [d["id"] for d in answer.json()["items"]]


async def test_rep_promotes_one_lead_and_dismisses_another(stack, signed_in, unique):
    card, (promoted, dismissed) = await kept_leads(stack, unique, 2)
    page = await signed_in("rep.dana", language="he", viewport=chromium.PHONE, next_path="/duplicate-leads")
    first = page.locator(f"tr[data-lead='{promoted}']")
    second = page.locator(f"tr[data-lead='{dismissed}']")
    await expect(first).to_be_visible()
    await expect(first.locator(f"a[href='/customers/{card['id']}']")).to_be_visible()  # the found card
    await expect(first.locator("form[action$='/merge']")).to_have_count(0)  # not her role's
    assert (await chromium.axe_violations(page)) == []
    await chromium.screenshot(page, "duplicate-leads-he")

    await first.locator("form[action$='/promote'] button").click()
    await expect(first.locator("[data-done='promote']")).to_be_visible()
    new_card = first.locator("a[href^='/customers/']").last
    assert (await new_card.get_attribute("href")) != f"/customers/{card['id']}"
    await second.locator("form[action$='/dismiss'] button").click()
    await expect(second.locator("[data-done='dismiss']")).to_be_visible()
    assert (await chromium.axe_violations(page)) == []
    left = await table(stack)
    assert promoted not in left and dismissed not in left


async def test_the_manager_merges_a_lead_into_the_found_card(stack, signed_in, unique):
    card, (merged,) = await kept_leads(stack, unique, 1)
    page = await signed_in("manager", language="en", next_path="/duplicate-leads")
    row = page.locator(f"tr[data-lead='{merged}']")
    await expect(row).to_be_visible()
    assert (await chromium.axe_violations(page)) == []
    await chromium.screenshot(page, "duplicate-leads-en")
    await row.locator("form[action$='/merge'] button").click()
    await expect(row.locator("[data-done='merge']")).to_be_visible()
    async with stack.api("admin") as api:
        found = (await api.get(stack.url("customer") + f"/v1/customers/{card['id']}")).json()
    assert f"dl.{unique}.0@example.com" in [e["value"] for e in found["emails"]]  # the lead filled what the card lacked
    assert merged not in await table(stack)
