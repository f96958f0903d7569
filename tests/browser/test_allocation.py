"""Screen 5 in a real browser: the manager runs the allocation wizard over a few new cards (filter,
two reps, preview, apply; the run is listed) and transfers chosen cards from one rep to another,
checked through allocation-svc; axe-clean in Hebrew and English, at 390 px too."""

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from crm_devtools import browser as chromium

pytestmark = pytest.mark.browser

NOA, MAYA = "Noa Cohen", "Maya Mizrahi"


async def new_cards(stack: Any, api: httpx.AsyncClient, marker: str, count: int) -> list[str]:
    ids = []
    for i in range(count):
        answer = await api.post(
            stack.url("customer") + "/v1/customers",
            params={"on_duplicate": "save_anyway"},
            json={"last_name": f"Alloc {marker} {i}", "tags": [f"alloc-{marker}"]},
        )
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["customer"]["id"])

    async def all_known() -> bool:  # allocation-svc has projected (and auto-assigned) every card
        answers = [await api.get(stack.url("allocation") + f"/v1/assignments/{c}") for c in ids]
        return all(a.status_code == 200 for a in answers)

    await stack.eventually(all_known)
    return ids


async def reps(stack: Any, api: httpx.AsyncClient) -> dict[str, str]:
    answer = await api.get(stack.url("allocation") + "/v1/reps")
    return {r["name"]: r["id"] for r in answer.json()["items"]}


async def owners(stack: Any, api: httpx.AsyncClient, ids: list[str]) -> list[str]:
    return [(await api.get(stack.url("allocation") + f"/v1/assignments/{c}")).json()["owner_id"] for c in ids]


async def assert_axe_clean(page: Page) -> None:
    violations = await chromium.axe_violations(page)
    assert violations == [], violations


async def test_the_manager_runs_the_allocation_wizard_and_the_run_is_listed(stack, signed_in, unique):
    async with stack.api("admin") as api:
        ids = await new_cards(stack, api, unique, 4)
        rep_ids = await reps(stack, api)
    page = await signed_in("manager", language="he", next_path="/allocation")
    await expect(page.get_by_role("heading", name="אשף הקצאה")).to_be_visible()
    await assert_axe_clean(page)

    await page.get_by_label("תגיות (כולן, מופרדות בפסיק)").fill(f"alloc-{unique}")
    await page.get_by_role("button", name="הבא").click()
    await page.get_by_role("checkbox", name=re.compile(NOA)).check()
    await page.get_by_role("checkbox", name=re.compile(MAYA)).check()
    await page.get_by_role("radio", name="שווה בשווה").check()
    await page.get_by_role("button", name="תצוגה מקדימה").click()
    await expect(page.locator("#wizard")).to_contain_text("4 כרטיסים תואמים; 4 יחולקו.")
    await expect(page.locator(f'[data-rep-count="{rep_ids[NOA]}"]')).to_have_text("2")
    await expect(page.locator(f'[data-rep-count="{rep_ids[MAYA]}"]')).to_have_text("2")
    await expect(page.locator("#wizard table").last).to_contain_text(f"Alloc {unique}")
    await assert_axe_clean(page)
    await chromium.screenshot(page, "allocation-he")

    # back keeps the choices: the reps are still checked
    await page.get_by_role("button", name="חזרה").click()
    await expect(page.get_by_role("checkbox", name=re.compile(NOA))).to_be_checked()
    await page.get_by_role("button", name="חזרה").click()
    await expect(page.get_by_label("תגיות (כולן, מופרדות בפסיק)")).to_have_value(f"alloc-{unique}")
    await page.get_by_role("button", name="הבא").click()
    await page.get_by_role("button", name="תצוגה מקדימה").click()
    await page.get_by_role("button", name="ביצוע ההקצאה").click()
    await expect(page.locator("#wizard [role=status]").first).to_contain_text("בוצע:")
    first_run = page.locator("#allocation-runs tbody tr").first
    await expect(first_run).to_contain_text(f"{NOA}: 2")
    await expect(first_run).to_contain_text(f"{MAYA}: 2")

    async with stack.api("admin") as api:
        dealt = await owners(stack, api, ids)
    assert sorted(dealt) == sorted([rep_ids[NOA], rep_ids[NOA], rep_ids[MAYA], rep_ids[MAYA]])

    # the same wizard in English: a preview of the same cards (not applied)
    await chromium.set_language(page, "en")
    await expect(page.get_by_role("heading", name="Allocation wizard")).to_be_visible()
    await assert_axe_clean(page)
    await page.get_by_label("Tags (all of them, comma separated)").fill(f"alloc-{unique}")
    await page.get_by_role("button", name="Next").click()
    await page.get_by_role("checkbox", name=re.compile(NOA)).check()
    await page.get_by_role("checkbox", name=re.compile(MAYA)).check()
    await page.get_by_role("radio", name="A fixed number per rep").check()
    await page.get_by_label(f"Cards for {NOA}").fill("3")
    await page.get_by_label(f"Cards for {MAYA}").fill("1")
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator(f'[data-rep-count="{rep_ids[NOA]}"]')).to_have_text("3")
    await expect(page.locator(f'[data-rep-count="{rep_ids[MAYA]}"]')).to_have_text("1")
    await assert_axe_clean(page)
    await chromium.screenshot(page, "allocation-en")


async def test_the_manager_transfers_chosen_cards_from_one_rep_to_another(stack, signed_in, unique):
    async with stack.api("admin") as api:
        ids = await new_cards(stack, api, unique, 3)
        rep_ids = await reps(stack, api)
        moved = await api.post(
            stack.url("allocation") + "/v1/transfers", json={"customer_ids": ids, "to_rep_id": rep_ids[NOA], "reason": f"setup {unique}"}
        )
        assert moved.status_code == 201, moved.text

        async def noa_has_them() -> bool:  # customer-svc heard of the new owner
            found = await api.get(stack.url("customer") + "/v1/customers", params={"owner_id": rep_ids[NOA], "q": f"Alloc {unique}"})
            return len(found.json()["items"]) == 3

        await stack.eventually(noa_has_them)

    page = await signed_in("manager", language="en", viewport=chromium.PHONE, next_path="/allocation")
    await page.get_by_label("From rep").select_option(label=NOA)
    await page.get_by_label("Find the rep's cards (name, number, phone)").fill(f"Alloc {unique}")
    await page.get_by_role("button", name="Show cards").click()
    await expect(page.locator("#t-cards input[name=customer_ids]")).to_have_count(3)
    await page.get_by_role("checkbox", name=f"Move Alloc {unique} 0").check()
    await page.get_by_role("checkbox", name=f"Move Alloc {unique} 1").check()
    await page.get_by_label("To rep").select_option(label=MAYA)
    await page.get_by_label("Reason").fill(f"holiday {unique}")
    await page.get_by_role("button", name="Transfer", exact=True).click()
    await expect(page.locator("#transfer [role=status]")).to_have_text(f"2 cards moved to {MAYA}.")
    await expect(page.locator("#allocation-transfers")).to_contain_text(f"holiday {unique}")
    await assert_axe_clean(page)

    async with stack.api("admin") as api:
        after = await owners(stack, api, ids)
    by_name = {f"Alloc {unique} {i}": owner for i, owner in enumerate(after)}
    assert by_name == {f"Alloc {unique} 0": rep_ids[MAYA], f"Alloc {unique} 1": rep_ids[MAYA], f"Alloc {unique} 2": rep_ids[NOA]}
