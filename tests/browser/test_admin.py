"""Screen 9, administration, in a real browser with the real Keycloak and services: the
administrator hides a custom field from sales reps in the role editor, and rep.dana, signed in
in another browser, no longer sees it on a card she works; the audit log shows the change; every
sub-page passes axe in Hebrew and English; 390 px wide; screenshots admin-he / admin-en and
admin-role-he / admin-role-en. The sales_rep role is put back to its defaults at the end."""

import time
from typing import Any

import pytest
from playwright.async_api import Page, expect

from crm_devtools import browser as chromium

pytestmark = pytest.mark.browser

SUB_PAGES = (
    "/admin/fields/budget",
    "/admin/channels",
    "/admin/fields",
    "/admin/reps",
    "/admin/rules",
    "/admin/roles",
    "/admin/roles/sales_rep",
    "/admin/members",
    "/admin/audit",
)


async def reset_sales_rep(stack: Any) -> None:
    async with stack.api("admin") as api:
        answer = await api.delete(stack.url("customer") + "/v1/roles/sales_rep")
        assert answer.status_code == 200, answer.text


async def danas_card(stack: Any, unique: str, budget: int) -> dict[str, Any]:
    """A lead of this run with a budget, with Dana Amir's rep on its team (so rep.dana reaches it)."""
    async with stack.api("admin") as api:
        reps = (await api.get(stack.url("allocation") + "/v1/reps")).json()["items"]
        dana = next(r["id"] for r in reps if r["name"] == "Dana Amir")
        body = {"first_name": "Budget", "last_name": f"Admin {unique}", "fields": {"budget": budget}}
        made = await api.post(stack.url("customer") + "/v1/customers", json=body, params={"on_duplicate": "save_anyway"})
        assert made.status_code == 201, made.text
        card: dict[str, Any] = made.json()["customer"]
        team = await api.put(stack.url("customer") + f"/v1/customers/{card['id']}/team", json={"team_member_ids": [dana]})
        assert team.status_code == 200, team.text
        return card


async def reload_until(page: Page, check: Any, within_s: float = 20) -> None:
    """Reload the page until `check()` holds (a change reaches every service within moments)."""
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "the page never showed the change"
        await page.reload()


async def wider_than_the_screen(page: Page) -> list[str]:
    """The elements that reach outside the viewport (for the failure message)."""
    script = """() => [...document.querySelectorAll('body *')].filter(e => {
        const r = e.getBoundingClientRect();
        return r.width > 0 && (r.right > innerWidth + 1 || r.left < -1) && !e.closest('.table-wrap');
    }).slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().width))"""
    found: list[str] = await page.evaluate(script)
    return found


async def assert_accessible(page: Page, where: str) -> None:
    violations = await chromium.axe_violations(page)
    assert violations == [], f"{where}: {violations}"


async def test_the_administrator_hides_a_field_from_sales_reps_and_dana_no_longer_sees_it(stack, signed_in, unique):
    await reset_sales_rep(stack)
    budget = 100_000 + int(unique, 16) % 800_000
    card = await danas_card(stack, unique, budget)
    try:
        dana = await signed_in("rep.dana", language="he", viewport=chromium.PHONE, next_path=f"/customers/{card['id']}")
        await dana.goto(f"{stack.console}/customers/{card['id']}")
        label = dana.locator("dt", has_text="תקציב")
        await expect(label).to_be_visible(timeout=15_000)

        admin = await signed_in("admin", language="en", next_path="/admin")
        await admin.goto(f"{stack.console}/admin")
        await expect(admin).to_have_url(f"{stack.console}/admin/channels")
        await expect(admin.get_by_role("navigation", name="Administration sections").get_by_role("link")).to_have_count(6)

        # The role editor: hide fields.budget from sales reps.
        await admin.goto(f"{stack.console}/admin/roles/sales_rep")
        await expect(admin.get_by_role("heading", name="Permissions of the role: Sales rep")).to_be_visible()
        await chromium.screenshot(admin, "admin-role-en")
        blank = admin.locator('input[name="field_path"][value=""]').first
        row = (await blank.get_attribute("id") or "").removeprefix("fp-")
        await blank.fill("fields.budget")
        await admin.locator(f"#fa-{row}").select_option("hidden")
        await admin.get_by_role("button", name="Save", exact=True).click()
        await expect(admin.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
        await expect(admin.locator('input[name="field_path"][value="fields.budget"]')).to_have_count(1)
        saved = await admin.locator('input[name="field_path"][value="fields.budget"]').get_attribute("id")
        await expect(admin.locator(f"#fa-{(saved or '').removeprefix('fp-')}")).to_have_value("hidden")

        # Dana, in her own browser: the card is still hers, its budget is gone.
        await reload_until(dana, lambda: _absent(label))
        await expect(dana.get_by_text(f"Admin {unique}").first).to_be_visible()
        assert str(budget) not in await dana.content()
        assert f"{budget:,}" not in await dana.content()

        # The audit log shows the role change.
        await admin.goto(f"{stack.console}/admin/audit?action=role.update&target_id=sales_rep")

        async def audited() -> bool:
            return await admin.locator("table.audit tbody tr").count() > 0

        await reload_until(admin, audited)
        first = admin.locator("table.audit tbody tr").first
        await expect(first).to_contain_text("role.update")
        await first.locator("summary").click()
        await expect(first).to_contain_text("fields.budget")
        await expect(first).to_contain_text("hidden")
    finally:
        await reset_sales_rep(stack)


async def _absent(label: Any) -> bool:
    return await label.count() == 0


async def test_every_administration_page_is_accessible_in_hebrew_and_english_and_fits_a_phone(stack, signed_in):
    async with stack.api("admin") as api:
        reps = (await api.get(stack.url("allocation") + "/v1/reps")).json()["items"]
    pages = (*SUB_PAGES, f"/admin/reps/{next(r['id'] for r in reps if r['name'] == 'Dana Amir')}")
    admin = await signed_in("admin", language="en", next_path="/admin")
    for language in ("en", "he"):
        await chromium.set_language(admin, language)
        for path in pages:
            await admin.goto(f"{stack.console}{path}")
            await expect(admin.locator("h1")).to_have_text("Administration" if language == "en" else "ניהול מערכת")
            await assert_accessible(admin, f"{path} ({language})")
        await admin.goto(f"{stack.console}/admin/roles")
        await chromium.screenshot(admin, f"admin-{language}")
        await admin.goto(f"{stack.console}/admin/audit")
        await chromium.screenshot(admin, f"admin-audit-{language}")
    await admin.goto(f"{stack.console}/admin/roles/sales_rep")
    await chromium.screenshot(admin, "admin-role-he")

    # 390 px wide: nothing pushes the page sideways (wide tables scroll inside their wrapper).
    await admin.set_viewport_size(chromium.PHONE)
    for path in pages:
        await admin.goto(f"{stack.console}{path}")
        width = await admin.evaluate("document.documentElement.scrollWidth")
        assert width <= chromium.PHONE["width"], f"{path} is {width} px wide at 390 px: {await wider_than_the_screen(admin)}"
        await assert_accessible(admin, f"{path} (390 px)")

    # The manager: custom fields and reps, no channels, roles, users or audit log.
    manager = await signed_in("manager", language="en", next_path="/admin")
    await manager.goto(f"{stack.console}/admin")
    await expect(manager).to_have_url(f"{stack.console}/admin/fields")
    tabs = manager.get_by_role("navigation", name="Administration sections").get_by_role("link")
    await expect(tabs).to_have_text(["Custom fields", "Reps and rules"])
    await manager.goto(f"{stack.console}/admin/roles")
    await expect(manager.get_by_text("Not available to your role")).to_be_visible()


async def test_a_new_channels_key_is_shown_once_in_a_marked_box_and_a_refused_form_keeps_what_was_typed(stack, signed_in, unique):
    admin = await signed_in("admin", language="he", viewport=chromium.PHONE, next_path="/admin/channels")
    await admin.goto(f"{stack.console}/admin/channels")
    name = f"Landing {unique}"
    await admin.locator("#f-name").fill(name)
    await admin.locator("#f-redirect_url").fill("not a web address")
    await admin.locator("#f-mapping").fill("tel = phone\nsrc = fields.source")
    await admin.locator("form[action='/admin/channels'] button[type=submit]").click()

    # Refused: the error next to the address, everything typed still there, no key.
    await expect(admin.locator("#e-redirect_url")).to_have_text("הערך הזה נדחה.")
    await expect(admin.locator("#f-name")).to_have_value(name)
    await expect(admin.locator("#f-mapping")).to_have_value("tel = phone\nsrc = fields.source")
    await expect(admin.locator(".key-box")).to_have_count(0)

    await admin.locator("#f-redirect_url").fill("")
    await admin.locator("form[action='/admin/channels'] button[type=submit]").click()
    box = admin.locator(".key-box")
    await expect(box).to_be_visible()
    await expect(box).to_contain_text("מוצג פעם אחת בלבד")
    key = await admin.locator("#new-key").input_value()
    assert len(key) >= 16
    await box.get_by_role("button", name="העתקה").click()
    await expect(box.locator(".copy-status")).to_have_text("הועתק.")
    await assert_accessible(admin, "the key box")
    await chromium.screenshot(admin, "admin-channel-key-he")

    # Never again: the list shows only the key's last characters.
    await admin.goto(f"{stack.console}/admin/channels")
    await expect(admin.locator(".key-box")).to_have_count(0)
    assert key not in await admin.content()
    row = admin.locator("tr", has_text=name)
    await expect(row).to_contain_text(key[-4:])

    # Its settings page shows the mapping (as the service keeps it), and passes axe.
    await row.get_by_role("link").first.click()
    await expect(admin.locator("#f-mapping")).to_contain_text("tel = phone")
    assert set((await admin.locator("#f-mapping").input_value()).splitlines()) == {"tel = phone", "src = fields.source"}
    await assert_accessible(admin, "a channel's settings")
    await admin.goto(f"{stack.console}/admin/channels")

    # The channel of this run stops taking leads.
    await row.locator("form[action$='/active'] button").click()
    await expect(admin.locator("tr", has_text=name)).to_contain_text("לא")
