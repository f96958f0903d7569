"""Screen 6 in a real browser: rep.dana sees her reminder under today, logs an unanswered call on
her lead from the follow-up list and sees the card's status move (new → follow-up) and the call
on its timeline, then marks the reminder done; axe-clean in Hebrew (at 390 px) and English."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import expect

from crm_devtools import browser as chromium

pytestmark = pytest.mark.browser


async def danas_new_lead(stack: Any, unique: str) -> tuple[str, str]:
    """A new lead moved to Dana's book, with a reminder for her due within the hour."""
    async with stack.api("admin") as api:
        created = await api.post(
            stack.url("customer") + "/v1/customers", params={"on_duplicate": "save_anyway"}, json={"last_name": f"Follow {unique}"}
        )
        assert created.status_code == 201, created.text
        card = created.json()["customer"]["id"]
        reps = {r["name"]: r["id"] for r in (await api.get(stack.url("allocation") + "/v1/reps")).json()["items"]}
        dana = reps["Dana Amir"]

        async def assigned() -> bool:
            return (await api.get(stack.url("allocation") + f"/v1/assignments/{card}")).status_code == 200

        await stack.eventually(assigned)
        moved = await api.post(
            stack.url("allocation") + "/v1/transfers", json={"customer_ids": [card], "to_rep_id": dana, "reason": f"test {unique}"}
        )
        assert moved.status_code == 201, moved.text
        due = datetime.now(UTC) + timedelta(minutes=30)
        reminder = await api.post(
            stack.url("timeline") + "/v1/interactions",
            json={"customer_id": card, "kind": "reminder", "due_at": due.isoformat(), "summary": f"Call back {unique}", "owner_id": dana},
        )
        assert reminder.status_code == 201, reminder.text
    async with stack.api("rep.dana") as api:

        async def hers() -> bool:  # customer-svc heard that the card is Dana's
            return (await api.get(stack.url("customer") + f"/v1/customers/{card}")).status_code == 200

        await stack.eventually(hers)
    return card, reminder.json()["id"]


async def test_dana_logs_an_unanswered_call_sees_the_status_move_and_marks_her_reminder_done(stack, signed_in, unique):
    card, reminder_id = await danas_new_lead(stack, unique)
    page = await signed_in("rep.dana", language="he", viewport=chromium.PHONE, next_path="/follow-up")
    row = page.locator(f'[data-reminder="{reminder_id}"]')
    await expect(row).to_contain_text(f"Call back {unique}")
    await expect(row).to_contain_text("חדש")
    assert await row.evaluate("r => r.closest('section').querySelector('h3').textContent.trim().startsWith('היום')")
    violations = await chromium.axe_violations(page)
    assert violations == [], violations
    await chromium.screenshot(page, "followup-he")

    # the row's "log a call" opens the compact form for that card; outcome, a few words, Enter
    await row.get_by_role("button", name="תיעוד שיחה").click()
    await expect(page.locator("#call")).to_contain_text(f"Follow {unique}")
    await page.get_by_role("radio", name="אין מענה").check()
    await page.get_by_label("סיכום (לא חובה)").fill(f"no answer {unique}")
    await page.get_by_label("סיכום (לא חובה)").press("Enter")
    await expect(page.locator("#call .call-result")).to_contain_text("השיחה עם")
    status = page.locator("#call .call-status")
    await expect(status).to_have_attribute("data-status", "follow_up", timeout=20_000)
    await expect(status).to_contain_text("מעקב")
    await expect(status.locator(".timeline")).to_contain_text(f"no answer {unique}", timeout=20_000)
    violations = await chromium.axe_violations(page)
    assert violations == [], violations

    await row.get_by_role("button", name=f"בוצע: Call back {unique}").click()
    await expect(page.locator("#followup-list p.ok[role=status]")).to_have_text("סומן כבוצע.")
    await expect(page.locator(f'[data-reminder="{reminder_id}"]')).to_have_count(0)
    async with stack.api("rep.dana") as api:
        done = await api.get(stack.url("timeline") + "/v1/reminders", params={"state": "done", "customer_id": card})
    assert [r["id"] for r in done.json()["items"]] == [reminder_id]
    async with stack.api("admin") as api:
        assert (await api.get(stack.url("customer") + f"/v1/customers/{card}")).json()["status"] == "follow_up"


async def test_the_follow_up_list_in_english_is_axe_clean(stack, signed_in, unique):
    card, reminder_id = await danas_new_lead(stack, unique)
    page = await signed_in("rep.dana", language="en", next_path="/follow-up")
    await expect(page.locator(f'[data-reminder="{reminder_id}"]')).to_contain_text(f"Call back {unique}")
    await expect(page.get_by_role("heading", name="Log a call")).to_be_visible()
    violations = await chromium.axe_violations(page)
    assert violations == [], violations
    await chromium.screenshot(page, "followup-en")
    # move it to another day in one click (the input holds tomorrow, same time)
    await page.locator(f'[data-reminder="{reminder_id}"]').get_by_role("button", name="Move").click()
    await expect(page.locator("#followup-list p.ok[role=status]")).to_have_text("Moved.")
    moved = page.locator(f'[data-reminder="{reminder_id}"]')
    assert await moved.evaluate("r => r.closest('section').querySelector('h3').textContent.trim().startsWith('Tomorrow')")
