"""Screen 7 in a real browser: the administrator uploads a small CSV with one bad row (Hebrew),
watches the progress bar reach the end and the job end `done`, and reads the row error by sheet
row and column; the manager finds the import among the recent ones at 390 px in English and
opens it. axe-clean in both languages; screenshots of both."""

import random
from pathlib import Path

import pytest
from playwright.async_api import expect

from crm_devtools import browser as chromium

pytestmark = pytest.mark.browser


def a_csv(folder: Path, unique: str) -> Path:
    """Two rows: a good lead (a phone nobody has) and, on sheet row 3, a phone that is no phone."""
    phone = "05" + "".join(random.choice("0123456789") for _ in range(8))
    path = folder / f"leads-{unique}.csv"
    path.write_text(
        "first_name,last_name,phone,email\r\n"
        f"Noa,Import {unique},{phone},noa.{unique}@example.com\r\n"
        f"Ron,Broken {unique},not-a-phone,ron.{unique}@example.com\r\n",
        encoding="utf-8",
    )
    return path


async def test_the_administrator_imports_a_csv_and_reads_the_row_error_by_row_and_column(stack, signed_in, unique, tmp_path):
    page = await signed_in("admin", language="he", next_path="/imports")
    await expect(page.get_by_role("heading", name="העלאת קובץ")).to_be_visible()
    violations = await chromium.axe_violations(page)
    assert violations == [], violations

    await page.get_by_label("קובץ (CSV או XLSX)").set_input_files(str(a_csv(tmp_path, unique)))
    await page.get_by_role("radio", name="השלמת מידע חסר לרשומה הקיימת שנמצאה").check()
    await page.get_by_role("button", name="התחלת הייבוא").click()

    job = page.locator("#import-job")
    await expect(job).to_contain_text(f"leads-{unique}.csv")
    progress = job.locator("progress#import-progress")
    await expect(progress).to_have_attribute("max", "2")
    # The bar moves with the polling alone (no reload) until the job is done.
    await expect(job.locator(".import-state")).to_have_text("הסתיים", timeout=60_000)
    await expect(progress).to_have_attribute("value", "2")
    await expect(job.locator("#import-progress-text")).to_contain_text("2 מתוך 2 שורות")
    await expect(job).not_to_have_attribute("hx-trigger", "every 1s")

    # The inferred columns, and the bad row under its sheet row and column.
    await expect(job.locator("table.import-columns")).to_contain_text("phone")
    error = job.locator('table.import-errors tr[data-row="3"]')
    await expect(error.locator("td").nth(0)).to_have_text("3")
    await expect(error.locator("td").nth(1)).to_have_text("phone")
    await expect(error.locator("td").nth(2)).to_contain_text("מספר הטלפון אינו תקין")
    await expect(job.locator("table.import-errors tbody tr")).to_have_count(1)
    violations = await chromium.axe_violations(page)
    assert violations == [], violations
    await chromium.screenshot(page, "imports-he")


async def test_the_manager_finds_the_import_among_the_recent_ones_on_a_phone_in_english(stack, signed_in, unique, tmp_path):
    async with stack.api("admin") as api:  # a file uploaded through intake's channel key path is listed the same way
        channels = (await api.get(stack.url("intake") + "/v1/channels")).json()["items"]
        channel = next(c for c in channels if c["kind"] == "import" and c["active"])
        path = a_csv(tmp_path, unique)
        made = await api.post(
            stack.url("intake") + "/v1/imports",
            files={"file": (path.name, path.read_bytes(), "text/csv")},
            data={"policy": "skip", "channel_id": channel["id"]},
        )
        assert made.status_code == 202, made.text
    page = await signed_in("manager", language="en", viewport=chromium.PHONE, next_path="/imports")
    link = page.get_by_role("link", name=f"leads-{unique}.csv")
    await expect(link).to_be_visible()
    violations = await chromium.axe_violations(page)
    assert violations == [], violations
    await chromium.screenshot(page, "imports-en")
    await link.click()
    await expect(page.locator("#import-job .import-state")).to_have_text("Done", timeout=60_000)
    await expect(page.locator('table.import-errors tr[data-row="3"]')).to_contain_text("Not a valid phone number.")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "no sideways scrolling at 390 px"
    violations = await chromium.axe_violations(page)
    assert violations == [], violations
