"""The new card and the duplicate-found dialog in a real browser (screen 3, seeds 000 and 004):
rep.dana types a card whose phone a card she works already has, meets the dialog with the
candidate and why it matched, and each of the seed's five actions does what it says; axe in
Hebrew and English (form and dialog), 390 px wide, screenshots of both in both languages."""

import asyncio
import re
import secrets
import time
from typing import Any

import pytest
from playwright.async_api import Page, expect

from crm_devtools import browser as chromium

pytestmark = pytest.mark.browser

PROPAGATION_S = 30
CARD_URL = re.compile(r".*/customers/([0-9a-f-]{36})$")


def new_phone() -> str:
    return "052" + f"{secrets.randbelow(10**7):07d}"


async def eventually(check: Any, what: str, within_s: float = PROPAGATION_S) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, f"waited {within_s} s for {what}"
        await asyncio.sleep(0.25)


async def original(stack: Any, unique: str, phone: str) -> dict[str, Any]:
    """A card rep.dana works (she made it), known to dedup-svc by its phone."""
    async with stack.api("rep.dana") as api:
        body = {"first_name": "Orig", "last_name": f"Known {unique}", "phones": [phone]}
        made = await api.post(stack.url("customer") + "/v1/customers", json=body, params={"on_duplicate": "save_anyway"})
        assert made.status_code == 201, made.text
        card: dict[str, Any] = made.json()["customer"]

        async def known() -> bool:
            answer = await api.post(stack.url("dedup") + "/v1/match", json={"phones": [phone]})
            return answer.status_code == 200 and any(c["customer_id"] == card["id"] for c in answer.json()["candidates"])

        await eventually(known, "dedup-svc to know the original card")
        return card


async def no_violations(page: Page, where: str) -> None:
    violations = await chromium.axe_violations(page)
    assert violations == [], f"{where}: {violations}"


async def type_card(page: Page, unique: str, phone: str) -> None:
    await page.locator("#f-first_name").fill("Dup")
    await page.locator("#f-last_name").fill(f"New {unique}")
    await page.locator("#f-phone-0").fill(phone)
    await page.locator("[data-add-row='email']").click()  # a second e-mail row, the second one primary
    await page.locator("#f-email-0").fill(f"first.{unique}@example.com")
    await page.locator("#f-email-1").fill(f"main.{unique}@example.com")
    await page.locator("input[name='email_primary'][value='1']").check()
    await page.locator(".nc-submit button[type=submit]").click()


async def api_get(stack: Any, path: str) -> Any:
    async with stack.api("admin") as api:
        answer = await api.get(stack.url("customer") + path)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.mark.parametrize(
    ("action", "language", "viewport"),
    [
        ("back", "he", chromium.PHONE),
        ("duplicate_lead", "en", chromium.DESKTOP),
        ("add_as_contact", "he", chromium.DESKTOP),
        ("child", "en", chromium.PHONE),
        ("save_anyway", "he", chromium.DESKTOP),
    ],
)
async def test_rep_meets_the_duplicate_dialog_and_each_action_works(stack, signed_in, unique, action, language, viewport):
    phone = new_phone()
    known = await original(stack, unique, phone)
    page = await signed_in("rep.dana", language=language, viewport=viewport, next_path="/customers/new")
    await expect(page.locator("form.new-card")).to_be_visible()
    await no_violations(page, f"new card ({language})")
    if action in ("back", "duplicate_lead"):
        await chromium.screenshot(page, f"new-card-{language}")

    await type_card(page, unique, phone)
    dialog = page.locator("dialog#duplicate-dialog")
    await expect(dialog).to_be_visible()
    candidate = dialog.locator(f"[data-candidate='{known['id']}']")
    await expect(candidate).to_be_visible()
    await expect(candidate.locator(".reasons")).to_contain_text(phone[1:])  # why it matched (the number, as E.164)
    await expect(candidate.locator("input[type=radio]")).to_be_checked()
    for offered in ("duplicate_lead", "add_as_contact", "child", "save_anyway"):
        await expect(dialog.locator(f"button[name='on_duplicate'][value='{offered}']")).to_be_visible()
    await expect(dialog.locator("[data-close-dialog]")).to_be_visible()
    await no_violations(page, f"duplicate dialog ({language})")
    if action in ("back", "duplicate_lead"):
        await chromium.screenshot(page, f"duplicate-dialog-{language}")

    if action == "back":
        await dialog.locator("[data-close-dialog]").click()
        await expect(dialog).to_be_hidden()
        await expect(page.locator("#f-last_name")).to_have_value(f"New {unique}")  # nothing typed lost
        await expect(page.locator("#f-phone-0")).to_have_value(phone)
        await expect(page.locator("input[name='email_primary'][value='1']")).to_be_checked()
        return

    await dialog.locator(f"button[name='on_duplicate'][value='{action}']").click()
    if action == "duplicate_lead":
        await page.wait_for_url(re.compile(r".*/duplicate-leads$"))
        row = page.locator(f"tr[data-customer='{known['id']}']").filter(has_text=f"New {unique}")
        await expect(row).to_be_visible()
        return
    await page.wait_for_url(CARD_URL)
    opened = CARD_URL.match(page.url)
    assert opened is not None
    shown_id = opened.group(1)
    if action == "add_as_contact":
        assert shown_id == known["id"]
        contacts = (await api_get(stack, f"/v1/customers/{known['id']}/contacts"))["items"]
        assert [c["full_name"] for c in contacts] == [f"Dup New {unique}"]
        return
    assert shown_id != known["id"]
    card = await api_get(stack, f"/v1/customers/{shown_id}")
    assert card["last_name"] == f"New {unique}"
    assert [e["value"] for e in card["emails"] if e["primary"]] == [f"main.{unique}@example.com"]  # the primary marked
    if action == "child":
        assert card["parent_ids"] == [known["id"]]
    else:
        assert card["parent_ids"] == [] and card["phones"][0]["value"] == phone


async def test_a_refused_field_shows_its_error_next_to_it_in_hebrew_and_keeps_what_was_typed(stack, signed_in, unique):
    page = await signed_in("rep.dana", language="he", next_path="/customers/new")
    await page.locator("#f-last_name").fill(f"Typo {unique}")
    await page.locator("#f-phone-0").fill(new_phone())
    await page.locator("#f-email-0").fill("not-an-address")
    await page.locator(".nc-submit button[type=submit]").click()
    error = page.locator("#e-email-0")
    await expect(error).to_have_text("כתובת הדוא״ל אינה תקינה.")
    await expect(page.locator("#f-email-0")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#f-email-0")).to_have_value("not-an-address")
    await expect(page.locator("#f-last_name")).to_have_value(f"Typo {unique}")
    assert (await chromium.axe_violations(page)) == []
