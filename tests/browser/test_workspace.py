"""The three-panel workspace in a real browser (screen 1, seed 002): rep.dana signs in through the
real Keycloak and sees only her leads; selecting one updates the centre without a page load; an
interaction recorded meanwhile appears in her open timeline live; axe in Hebrew and English,
390 px wide, and the screenshots workspace-he / workspace-en."""

import asyncio
import re
import time
from typing import Any

import pytest
from playwright.async_api import Page, expect

from crm_devtools import browser as chromium

pytestmark = pytest.mark.browser

PROPAGATION_S = 30


async def rep_ids(stack: Any) -> dict[str, str]:
    async with stack.api("admin") as api:
        answer = await api.get(stack.url("allocation") + "/v1/reps")
        answer.raise_for_status()
        return {r["name"]: r["id"] for r in answer.json()["items"]}


async def eventually(check: Any, what: str, within_s: float = PROPAGATION_S) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, f"waited {within_s} s for {what}"
        await asyncio.sleep(0.25)


async def new_lead(stack: Any, unique: str, last_name: str, n: int) -> dict[str, Any]:
    phone = f"05{(int(unique, 16) + n) % 10**8:08d}"
    async with stack.api("admin") as api:
        body = {"first_name": "Noa", "last_name": f"{last_name} {unique}", "phones": [phone], "emails": [f"ws.{unique}.{n}@example.com"]}
        made = await api.post(stack.url("customer") + "/v1/customers", json=body, params={"on_duplicate": "save_anyway"})
        assert made.status_code == 201, made.text
        card: dict[str, Any] = made.json()["customer"]
        return card


async def owned_by_someone_else(stack: Any, customer_id: str, dana: str, other: str) -> None:
    """Wait for the automatic allocation; when it chose Dana, transfer the card to `other`."""
    url = stack.url("customer") + f"/v1/customers/{customer_id}"
    async with stack.api("admin") as api:

        async def assigned() -> bool:
            return bool((await api.get(url)).json().get("owner_id"))

        await eventually(assigned, "the allocation of the other lead")
        if (await api.get(url)).json()["owner_id"] == dana:
            body = {"customer_ids": [customer_id], "to_rep_id": other, "reason": "browser test"}
            moved = await api.post(stack.url("allocation") + "/v1/transfers", json=body)
            assert moved.status_code == 201, moved.text

            async def away() -> bool:
                return bool((await api.get(url)).json()["owner_id"] == other)

            await eventually(away, "customer-svc following the transfer")


async def hers(stack: Any, unique: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Her lead (Dana on its team), another rep's lead, and Dana's rep id."""
    reps = await rep_ids(stack)
    dana, yossi = reps["Dana Amir"], reps["Yossi Levi"]
    mine = await new_lead(stack, unique, "Mine", 1)
    other = await new_lead(stack, unique, "Other", 2)
    async with stack.api("admin") as api:
        put = await api.put(stack.url("customer") + f"/v1/customers/{mine['id']}/team", json={"team_member_ids": [dana]})
        assert put.status_code == 200, put.text
    await owned_by_someone_else(stack, other["id"], dana, yossi)
    async with stack.api("rep.dana") as api:
        timeline = stack.url("timeline") + f"/v1/customers/{mine['id']}/timeline"

        async def reaches() -> bool:
            return bool((await api.get(timeline)).status_code == 200)

        await eventually(reaches, "timeline-svc following the card's team")
    return mine, other, dana


async def assert_accessible(page: Page) -> None:
    violations = await chromium.axe_violations(page)
    assert violations == [], violations


async def listed_ids(page: Page) -> list[str]:
    ids: list[str] = await page.locator("#customer-rows li[data-customer]").evaluate_all("rows => rows.map(r => r.dataset.customer)")
    return ids


async def test_dana_sees_only_her_leads_selects_one_without_a_page_load_and_sees_a_call_arrive_live(stack, signed_in, unique):
    mine, other, dana = await hers(stack, unique)
    second = await new_lead(stack, unique, "Second", 3)
    async with stack.api("admin") as api:
        put = await api.put(stack.url("customer") + f"/v1/customers/{second['id']}/team", json={"team_member_ids": [dana]})
        assert put.status_code == 200, put.text
    page = await signed_in("rep.dana", language="he", next_path="/customers")
    await expect(page.locator("html")).to_have_attribute("dir", "rtl")
    await expect(page.locator(".workspace #customers")).to_be_visible()

    # Every row of her list is a card she owns or works on the team of.
    shown = await listed_ids(page)
    assert shown, "her list is empty"
    async with stack.api("admin") as api:
        for cid in shown[:10]:
            card = (await api.get(stack.url("customer") + f"/v1/customers/{cid}")).json()
            assert card["owner_id"] == dana or dana in card["team_member_ids"], cid

    # Instant search: her lead is listed, the other rep's is not.
    await page.get_by_label("חיפוש לקוחות").fill(unique)
    row = page.locator(f'li[data-customer="{mine["id"]}"]')
    await expect(row).to_be_visible()
    await expect(page.locator(f'li[data-customer="{second["id"]}"]')).to_be_visible()
    await expect(page.locator("#customer-rows li[data-customer]")).to_have_count(2)
    assert other["id"] not in await listed_ids(page)

    # Selecting her lead: the centre changes and the address follows, with no page load.
    await page.evaluate("window.__stayed = true")
    await row.locator("a").click()
    await expect(page).to_have_url(re.compile(rf"/customers/{mine['id']}$"))
    await expect(page.locator("#profile-name")).to_contain_text(f"Mine {unique}")
    await expect(page.locator('#profile a[href^="tel:"]')).to_have_count(1)
    await expect(page.locator(f'#profile a[href="mailto:ws.{unique}.1@example.com"]')).to_be_visible()
    assert await page.evaluate("window.__stayed === true"), "the page was loaded again"
    await expect(row).to_have_class(re.compile("selected"))

    # A call recorded elsewhere appears in her open timeline without a reload.
    timeline = page.locator(f"#timeline-{mine['id']}")
    await expect(timeline).to_be_visible()
    await expect(page.locator("#selected")).to_have_attribute("data-live", "open")  # its live stream is listening
    async with stack.api("admin") as api:
        body = {"customer_id": mine["id"], "kind": "call", "direction": "outbound", "outcome": "answered", "summary": f"live {unique}"}
        made = await api.post(stack.url("timeline") + "/v1/interactions", json=body)
        assert made.status_code == 201, made.text
    await expect(timeline.locator("li.entry").first).to_contain_text(f"live {unique}", timeout=10_000)
    await expect(timeline.locator("li.entry").first).to_contain_text("נענתה")
    assert await page.evaluate("window.__stayed === true"), "the page was loaded again"

    # Activity on another customer of the list: a badge on its row.
    await expect(page.locator("#customer-live")).to_have_attribute("data-live", "open")
    async with stack.api("admin") as api:
        body = {"customer_id": second["id"], "kind": "note", "summary": f"note {unique}"}
        made = await api.post(stack.url("timeline") + "/v1/interactions", json=body)
        assert made.status_code == 201, made.text
    await expect(page.locator(f'li[data-customer="{second["id"]}"]')).to_have_class(re.compile("activity"), timeout=10_000)
    await expect(row).not_to_have_class(re.compile("activity"))

    await assert_accessible(page)
    await chromium.screenshot(page, "workspace-he")


async def test_the_workspace_in_english_by_keyboard_renames_a_lead_is_accessible_and_stacks_on_a_phone(stack, signed_in, unique):
    mine, _, _ = await hers(stack, unique)
    async with stack.api("admin") as api:
        for n in range(21):  # more than a page of the timeline
            body = {"customer_id": mine["id"], "kind": "note", "summary": f"note {n} {unique}"}
            made = await api.post(stack.url("timeline") + "/v1/interactions", json=body)
            assert made.status_code == 201, made.text
    page = await signed_in("rep.dana", language="en", next_path="/customers")
    await expect(page.locator("html")).to_have_attribute("dir", "ltr")
    await expect(page.get_by_text("Choose a customer from the list")).to_be_visible()

    # By keyboard: "/" goes to the search, Enter on a row opens it.
    await page.locator("body").press("/")
    await expect(page.get_by_label("Search customers")).to_be_focused()
    await page.keyboard.type(unique)
    row = page.locator(f'li[data-customer="{mine["id"]}"]')
    await expect(row).to_be_visible()
    await row.locator("a").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#profile-name")).to_contain_text(f"Mine {unique}")
    await expect(page).to_have_url(re.compile(rf"/customers/{mine['id']}$"))
    await expect(page.get_by_role("heading", name="Timeline")).to_be_visible()

    # The timeline: newest first, more on scroll, filtered by kind.
    entries = page.locator(f"#timeline-{mine['id']} li.entry")
    await expect(entries.first).to_contain_text(f"note 20 {unique}")
    await expect(entries).to_have_count(20)
    await page.locator(f"#timeline-{mine['id']} li.more").scroll_into_view_if_needed()
    await expect(entries.nth(21)).to_be_visible()  # the next page came: 21 notes and the card's own entries
    await expect(entries.last).to_contain_text("Card created")  # the oldest
    await page.get_by_label("Show").select_option("created")
    await expect(entries).to_have_count(1)
    await expect(entries.first).to_contain_text("Card created")
    await page.get_by_label("Show").select_option("")
    await expect(entries.first).to_contain_text(f"note 20 {unique}")

    # The name, edited in place: the header and the row follow.
    centre = page.locator("#profile")
    await centre.get_by_text("Edit name").click()
    await centre.get_by_label("Last name").fill(f"Renamed {unique}")
    await page.locator("details.rename button[type=submit]").click()
    await expect(page.locator("#profile-name")).to_contain_text(f"Noa Renamed {unique}")
    await expect(row).to_contain_text(f"Renamed {unique}")
    await expect(page.get_by_text("The name was saved.")).to_be_visible()

    await assert_accessible(page)
    await chromium.screenshot(page, "workspace-en")

    await page.set_viewport_size(chromium.PHONE)
    listing, profile = page.locator("#customers"), page.locator("#profile")
    await expect(profile).to_be_visible()
    lbox, pbox = await listing.bounding_box(), await profile.bounding_box()
    assert lbox and pbox and pbox["y"] >= lbox["y"] + lbox["height"] - 1, "the panels do not stack"
    assert pbox["width"] <= chromium.PHONE["width"], "the profile is wider than the phone"
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= chromium.PHONE["width"], f"the page scrolls sideways ({width} px)"
    await assert_accessible(page)
