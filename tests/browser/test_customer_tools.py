"""The workspace's right panel in a real browser (screen 1, seed 002): the manager opens a card,
changes its status to one the rules allow and transfers it to another rep; a sales rep working
the card has the status tool but no transfer or merge; axe in Hebrew and English, 390 px wide,
and the screenshots tools-he / tools-en."""

import asyncio
import time
from typing import Any

import pytest
from playwright.async_api import Page, expect

from crm_devtools import browser as chromium

pytestmark = pytest.mark.browser


async def rep_ids(stack: Any) -> dict[str, str]:
    async with stack.api("admin") as api:
        answer = await api.get(stack.url("allocation") + "/v1/reps")
        answer.raise_for_status()
        return {r["name"]: r["id"] for r in answer.json()["items"]}


async def new_lead(stack: Any, unique: str, team: list[str]) -> dict[str, Any]:
    """A lead of this run (unique name and phone), with `team` reps working it."""
    phone = f"05{int(unique, 16) % 10**8:08d}"
    async with stack.api("admin") as api:
        body = {"first_name": "Tamar", "last_name": f"Tools {unique}", "phones": [phone]}
        made = await api.post(stack.url("customer") + "/v1/customers", json=body, params={"on_duplicate": "save_anyway"})
        assert made.status_code == 201, made.text
        card: dict[str, Any] = made.json()["customer"]
        if team:
            put = await api.put(stack.url("customer") + f"/v1/customers/{card['id']}/team", json={"team_member_ids": team})
            assert put.status_code == 200, put.text
        return card


async def owner_becomes(stack: Any, customer_id: str, rep_id: str | None = None, within_s: float = 20) -> str:
    """customer-svc learns owners from allocation-svc's events (the rules' assignment of a new
    lead, a transfer): wait for `rep_id` (any owner when None) and return it."""
    deadline = time.monotonic() + within_s
    async with stack.api("admin") as api:
        while True:
            card = (await api.get(stack.url("customer") + f"/v1/customers/{customer_id}")).json()
            owner = card.get("owner_id")
            if owner is not None and rep_id in (None, owner):
                return str(owner)
            assert time.monotonic() < deadline, f"the owner is still {owner}"
            await asyncio.sleep(0.25)


async def open_tools(page: Page, stack: Any, customer_id: str) -> None:
    """The card's page with the panel loaded into it."""
    await page.goto(f"{stack.console}/customers/{customer_id}")
    await expect(page.locator("#tools .tl-root")).to_be_visible(timeout=15_000)


async def assert_accessible(page: Page) -> None:
    violations = await chromium.axe_violations(page)
    assert violations == [], violations


async def test_the_manager_changes_the_status_to_an_allowed_one_and_transfers_the_card(stack, signed_in, unique):
    reps = await rep_ids(stack)
    card = await new_lead(stack, unique, team=[])
    cid = card["id"]
    owner = await owner_becomes(stack, cid)  # the allocation rules give a new lead its first owner
    target = "Dana Amir" if owner == reps["Yossi Levi"] else "Yossi Levi"
    page = await signed_in("manager", language="en", next_path=f"/customers/{cid}")
    await open_tools(page, stack, cid)
    tools = page.locator("#tools")

    picker = tools.locator("#tl-status-status")
    offered = await picker.locator("option[value]:not([value=''])").evaluate_all("options => options.map(o => o.value)")
    assert offered == ["fictitious"]  # a new lead with no conversation: only "fictitious" by the rules
    await picker.select_option("fictitious")
    await tools.locator("#tl-status-reason").fill(f"wrong number {unique}")
    await tools.locator("form[action$='/tools/status'] button[type=submit]").click()
    await expect(tools.locator(".tl-note[role=status]")).to_have_text("The status changed.")
    await expect(tools.locator(".status.s-fictitious")).to_be_visible()

    await tools.locator("#tl-h-transfer ~ details > summary").click()
    await tools.locator("#tl-transfer-to_rep_id").select_option(label=target)
    await tools.locator("form[action$='/tools/transfer'] button[type=submit]").click()
    await expect(tools.locator("#tl-transfer-reason-e")).to_be_visible()  # the reason is required, next to its field
    await expect(tools.locator("#tl-transfer-to_rep_id")).to_have_value(reps[target])  # the choice kept
    await tools.locator("#tl-transfer-reason").fill(f"holiday cover {unique}")
    await tools.locator("form[action$='/tools/transfer'] button[type=submit]").click()
    await expect(tools.locator("[data-owner]")).to_have_text(target)
    await owner_becomes(stack, cid, reps[target])

    await tools.locator("#tl-h-merge ~ details > summary").click()  # the merge form open for the check
    await assert_accessible(page)


async def test_a_sales_rep_has_the_status_tool_but_no_transfer_or_merge_in_hebrew_at_390_px(stack, signed_in, unique):
    reps = await rep_ids(stack)
    card = await new_lead(stack, unique, team=[reps["Dana Amir"]])
    page = await signed_in("rep.dana", language="he", viewport=chromium.PHONE, next_path=f"/customers/{card['id']}")
    await open_tools(page, stack, card["id"])
    tools = page.locator("#tools")
    await expect(tools.locator("#tl-h-status")).to_have_text("שינוי סטאטוס")
    await expect(tools.locator("#tl-status-status option[value=fictitious]")).to_have_text("לקוח פיקטיבי")
    assert await tools.locator("#tl-h-transfer, #tl-h-merge, #tl-h-copy, form[action$='/tools/transfer']").count() == 0
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at 390 px ({width})"
    await assert_accessible(page)


@pytest.mark.parametrize("language", ["he", "en"])
async def test_the_panel_passes_axe_and_is_pictured(stack, signed_in, unique, language):
    card = await new_lead(stack, unique, team=[])
    await owner_becomes(stack, card["id"])
    page = await signed_in("manager", language=language, next_path=f"/customers/{card['id']}")
    await open_tools(page, stack, card["id"])
    await page.locator("#tools #tl-h-transfer ~ details > summary").click()
    await expect(page.locator("#tools [data-owner]")).not_to_have_text("")
    await assert_accessible(page)
    await page.evaluate("window.scrollTo(0, 0)")
    await chromium.screenshot(page, f"tools-{language}")


async def test_the_manager_merges_a_card_after_confirming_and_undoes_it(stack, signed_in, unique):
    survivor = await new_lead(stack, unique, team=[])
    twin = await new_lead(stack, unique[::-1], team=[])
    page = await signed_in("manager", language="en", next_path=f"/customers/{survivor['id']}")
    await open_tools(page, stack, survivor["id"])
    tools = page.locator("#tools")
    await tools.locator("#tl-h-merge ~ details > summary").click()
    await tools.locator("#tl-merge-other").fill(str(twin["number"]))
    await tools.locator("#tl-merge-other").press("Enter")  # keyboard: the form submits
    confirm = tools.locator(".tl-confirm")
    await expect(confirm).to_contain_text(f"Tools {unique[::-1]}")  # the other card named before anything happens
    async with stack.api("admin") as api:
        still = await api.get(stack.url("customer") + f"/v1/customers/{twin['id']}")
        assert still.json().get("merged_into") is None  # nothing merged before the confirmation
    await confirm.locator("button.danger").click()
    await expect(tools.locator(".tl-note[role=status]")).to_have_text("The cards were merged.")
    async with stack.api("admin") as api:
        merges = (await api.get(stack.url("customer") + f"/v1/customers/{survivor['id']}/merges")).json()["items"]
        assert [m["merged_ids"] for m in merges] == [[twin["id"]]]
    await tools.get_by_role("button", name="Undo merge").first.click()
    await expect(tools.locator(".tl-note[role=status]")).to_have_text("The merge was undone.")
    async with stack.api("admin") as api:
        back = await api.get(stack.url("customer") + f"/v1/customers/{twin['id']}")
        assert back.status_code == 200 and back.json().get("merged_into") is None


async def test_a_new_sub_customer_is_created_and_linked_from_the_panel(stack, signed_in, unique):
    parent = await new_lead(stack, unique, team=[])
    page = await signed_in("manager", language="he", next_path=f"/customers/{parent['id']}")
    await open_tools(page, stack, parent["id"])
    tools = page.locator("#tools")
    await tools.locator("#tl-h-relations ~ details:last-of-type > summary").click()
    await tools.locator("#tl-child-last_name").fill(f"Branch {unique}")
    await tools.locator("#tl-child-phone").fill(f"03{int(unique, 16) % 10**7:07d}")
    await tools.locator("form[action$='/tools/child'] button[type=submit]").click()
    await expect(tools.locator(".tl-note[role=status]")).to_contain_text("נוצר וקושר")
    async with stack.api("admin") as api:
        card = (await api.get(stack.url("customer") + f"/v1/customers/{parent['id']}")).json()
        assert len(card["child_ids"]) == 1
        child = (await api.get(stack.url("customer") + f"/v1/customers/{card['child_ids'][0]}")).json()
        assert child["last_name"] == f"Branch {unique}"
