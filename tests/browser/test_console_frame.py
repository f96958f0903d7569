"""The console's frame in a real browser: signing in at the real Keycloak (code + PKCE) and back to
the page asked for, silent renewal of an expired access token, a lost session sending the person
to sign in and back, the language switch, sign-out, and the sign-in page's accessibility."""

import json
from typing import Any

import pytest
from playwright.async_api import Page, expect
from redis.asyncio import Redis

from crm_devtools import browser as chromium

pytestmark = pytest.mark.browser

SESSION_PREFIX = "console:session:"  # crm_console.adapters.sessions


async def session_of(page: Page, stack: Any) -> tuple[Redis, str, dict[str, Any]]:
    cookie = next(c for c in await page.context.cookies() if c["name"] == "crm_session")
    redis = Redis.from_url(stack.redis_url)
    raw = await redis.get(SESSION_PREFIX + cookie["value"])
    assert raw is not None, "the signed-in session is in the store"
    return redis, cookie["value"], json.loads(raw)


async def test_signing_in_returns_to_the_page_asked_for_with_an_httponly_cookie_and_sign_out_ends_it(stack, browser):
    context = await browser.new_context(viewport=chromium.DESKTOP)
    page = await context.new_page()
    await page.goto(stack.console + "/search?q=zz")
    await expect(page.locator("#kc-login")).to_be_visible()  # not signed in: off to the identity provider
    await page.locator("#username").fill("rep.dana")
    await page.locator("#password").fill("dana-dev")
    await page.locator("#kc-login").click()
    await page.wait_for_url(stack.console + "/search?q=zz")
    cookie = next(c for c in await context.cookies() if c["name"] == "crm_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert "access_token" not in (await page.content())
    await page.locator("form[action='/logout'] button").click()
    await page.wait_for_load_state()
    await page.goto(stack.console + "/customers")
    await expect(page.locator("#kc-login")).to_be_visible()
    await context.close()


async def test_an_expired_access_token_is_renewed_silently(stack, signed_in):
    page = await signed_in("rep.dana", next_path="/customers")
    redis, session_id, session = await session_of(page, stack)
    session["access_expires_at"] = 0  # as if five minutes had passed
    await redis.set(SESSION_PREFIX + session_id, json.dumps(session))
    await page.goto(stack.console + "/customers")
    assert page.url == stack.console + "/customers"  # no trip to the identity provider
    renewed = json.loads(await redis.get(SESSION_PREFIX + session_id))
    assert renewed["access_expires_at"] > 0 and renewed["access_token"] != session["access_token"]
    await redis.aclose()


async def test_a_lost_session_sends_the_person_to_sign_in_and_back_to_the_page_they_were_on(stack, signed_in):
    page = await signed_in("rep.dana", next_path="/customers")
    redis, session_id, _ = await session_of(page, stack)
    await redis.delete(SESSION_PREFIX + session_id)  # gone, as after the idle timeout
    await redis.aclose()
    await page.goto(stack.console + "/follow-up?day=today")
    # Keycloak still knows the browser (its own SSO cookie): the console signs in again without a form,
    # or shows the form; either way the person lands back on the page they asked for.
    if await page.locator("#kc-login").count():
        await page.locator("#username").fill("rep.dana")
        await page.locator("#password").fill("dana-dev")
        await page.locator("#kc-login").click()
    await page.wait_for_url(stack.console + "/follow-up?day=today")


@pytest.mark.parametrize("language", ["he", "en"])
async def test_the_language_switch_sets_direction_and_is_kept_for_the_person(stack, signed_in, language):
    page = await signed_in("rep.dana", language=language, next_path="/customers")
    html = page.locator("html")
    await expect(html).to_have_attribute("lang", language)
    await expect(html).to_have_attribute("dir", "rtl" if language == "he" else "ltr")
    await page.goto(stack.console + "/customers")
    await expect(html).to_have_attribute("lang", language)  # kept in the session


@pytest.mark.parametrize("language", ["he", "en"])
async def test_the_sign_in_page_is_accessible_and_reachable_by_keyboard(stack, browser, language):
    context = await browser.new_context(viewport=chromium.PHONE)
    page = await context.new_page()
    await page.goto(f"{stack.console}/?lang={language}")
    await expect(page.locator("html")).to_have_attribute("dir", "rtl" if language == "he" else "ltr")
    assert await chromium.axe_violations(page) == []
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.classList.contains('skip')")
    await chromium.screenshot(page, f"signin-{language}")
    await context.close()
