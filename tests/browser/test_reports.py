"""Screen 8 in a real browser: the manager's view counts the cards this test made (a status, an
affiliate of their own, today's range), in Hebrew at 390 px and in English; the tables are the
data and the bars are hidden from assistive technology; axe-clean; screenshots of both."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

from crm_devtools import browser as chromium

pytestmark = pytest.mark.browser


async def cards_of_an_affiliate(stack, unique: str, count: int) -> str:
    """`count` new cards brought by an affiliate of this test's own; its name."""
    name = f"Affiliate {unique}"
    async with stack.api("admin") as api:
        for i in range(count):
            created = await api.post(
                stack.url("customer") + "/v1/customers",
                params={"on_duplicate": "save_anyway"},
                json={"last_name": f"Report {unique} {i}", "affiliate": {"name": name, "account_number": f"AFF-{unique}"}},
            )
            assert created.status_code == 201, created.text
    return name


async def test_the_managers_view_counts_the_tests_cards_in_hebrew_on_a_phone(stack, signed_in, unique):
    name = await cards_of_an_affiliate(stack, unique, 3)
    today = datetime.now(ZoneInfo("Asia/Jerusalem")).date().isoformat()
    page = await signed_in("manager", language="he", viewport=chromium.PHONE, next_path=f"/reports?from={today}&to={today}")
    affiliate = page.locator("#report-affiliate")
    row = affiliate.locator(f'tr[data-key="AFF-{unique}"]')
    await expect(row.locator("th")).to_have_text(f"{name} (AFF-{unique})")
    await expect(row.locator("td").first).to_have_text("3")
    # The same cards are among today's new ones, counted under their seed status label.
    new = page.locator('#report-status tr[data-key="new"]')
    await expect(new.locator("th")).to_have_text("חדש")
    assert int((await new.locator("td").first.inner_text()).replace(",", "")) >= 3
    await expect(page.locator("#report-owner table")).to_be_visible()
    await expect(page.locator("#report-channel table")).to_be_visible()
    assert await affiliate.locator(".report-chart").get_attribute("aria-hidden") == "true"
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "no sideways scrolling at 390 px"
    violations = await chromium.axe_violations(page)
    assert violations == [], violations
    await chromium.screenshot(page, "reports-he")


async def test_the_managers_view_in_english_is_axe_clean_and_counts_the_tests_cards(stack, signed_in, unique):
    name = await cards_of_an_affiliate(stack, unique, 2)
    page = await signed_in("manager", language="en", next_path="/reports")
    await expect(page.get_by_role("heading", name="By affiliate")).to_be_visible()
    row = page.locator(f'#report-affiliate tr[data-key="AFF-{unique}"]')
    await expect(row.locator("th")).to_have_text(f"{name} (AFF-{unique})")
    await expect(row.locator("td").first).to_have_text("2")
    await expect(page.locator('#report-status tr[data-key="new"] th')).to_have_text("New")
    await expect(page.get_by_role("link", name="Manager's view")).to_have_attribute("aria-current", "page")
    violations = await chromium.axe_violations(page)
    assert violations == [], violations
    await chromium.screenshot(page, "reports-en")
