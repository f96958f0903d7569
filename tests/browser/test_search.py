"""Search in a real browser (screen 2, seed 000): rep.dana finds a card she works by part of its
phone and by part of its name while typing (htmx, the address follows), sorts a column, narrows
with the wizard; axe in Hebrew and English, 390 px wide, screenshots search-he / search-en."""

import secrets
from typing import Any

import pytest
from playwright.async_api import expect

from crm_devtools import browser as chromium

pytestmark = pytest.mark.browser


async def a_card(stack: Any, unique: str) -> tuple[dict[str, Any], str]:
    phone = "054" + f"{secrets.randbelow(10**7):07d}"
    async with stack.api("rep.dana") as api:
        body = {"first_name": "Shira", "last_name": f"Findme{unique}", "phones": [phone], "emails": [f"find.{unique}@example.com"]}
        made = await api.post(stack.url("customer") + "/v1/customers", json=body, params={"on_duplicate": "save_anyway"})
        assert made.status_code == 201, made.text
        return made.json()["customer"], phone


@pytest.mark.parametrize(("language", "viewport"), [("he", chromium.PHONE), ("en", chromium.DESKTOP)])
async def test_rep_finds_a_card_by_part_of_its_phone_and_of_its_name(stack, signed_in, unique, language, viewport):
    card, phone = await a_card(stack, unique)
    page = await signed_in("rep.dana", language=language, viewport=viewport, next_path="/search")
    box = page.locator("#f-q")
    await expect(box).to_be_visible()
    row = page.locator(f"tr[data-customer='{card['id']}']")

    await box.fill(phone[3:9])  # part of the number, typed: the results follow without a page load
    await expect(row).to_be_visible()
    await expect(row.locator(f"a[href='/customers/{card['id']}']")).to_contain_text(f"Findme{unique}")
    await expect(row.locator(".status")).to_be_visible()
    await expect(page).to_have_url(f"{stack.console}/search?q={phone[3:9]}")  # shareable, without the empty wizard fields

    await box.fill(f"indme{unique}")  # part of the name
    await expect(page).to_have_url(f"{stack.console}/search?q=indme{unique}")  # the results of this query
    await expect(row).to_be_visible()
    await expect(page.locator("tbody tr")).to_have_count(1)

    sort = page.locator("th button.sort").first  # the customer column
    await sort.click()
    await expect(page.locator("th").first).to_have_attribute("aria-sort", "ascending")
    await expect(row).to_be_visible()

    violations = await chromium.axe_violations(page)
    assert violations == [], violations
    await chromium.screenshot(page, f"search-{language}")


async def test_the_wizard_narrows_by_status_and_a_saved_filter_becomes_a_button(stack, signed_in, unique):
    card, _ = await a_card(stack, unique)
    page = await signed_in("rep.dana", language="en", next_path=f"/search?q=Findme{unique}")
    row = page.locator(f"tr[data-customer='{card['id']}']")
    await expect(row).to_be_visible()
    await page.locator("details.wizard summary").click()
    await page.locator("input[name='status'][value='customer']").check()  # the new card is "new": no longer listed
    await expect(row).to_be_hidden()
    await page.locator("input[name='status'][value='new']").check()
    await expect(row).to_be_visible()
    await page.locator("#f-filter-name").fill(f"Mine {unique}")
    await page.locator("button[form='save-filter-form']").click()
    button = page.locator(".saved-filters a", has_text=f"Mine {unique}")
    await expect(button).to_be_visible()
    await expect(row).to_be_visible()  # the saved filter's results
    assert (await chromium.axe_violations(page)) == []
    await page.locator(".saved-filters li").filter(has_text=f"Mine {unique}").locator("button").click()  # delete it again
    await expect(page.locator(".saved-filters a", has_text=f"Mine {unique}")).to_have_count(0)
