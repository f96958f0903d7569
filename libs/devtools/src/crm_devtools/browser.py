"""Real-browser helpers for the console's tests: Debian's Chromium driven by Playwright, signing in
at the real identity provider, axe-core checks and screenshots.

Playwright is pinned and never downloads a browser (`playwright install` cannot work on these
machines): it launches `/usr/bin/chromium` (`CRM_CHROMIUM` overrides) through `executable_path`.
"""

import os
import re
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, Playwright

from crm_devtools.suite import REPO, console_assets

CHROMIUM = os.environ.get("CRM_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
SCREENSHOTS = REPO / "docs" / "screens"
DEMO_PASSWORDS = {"admin": "admin-dev", "manager": "manager-dev", "rep.dana": "dana-dev", "rep.yossi": "yossi-dev"}
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


async def launch(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)


async def sign_in(page: Page, console: str, username: str, next_path: str = "/customers", password: str | None = None) -> None:
    """Sign in through the console's real flow: the console sends the browser to the identity
    provider (code + PKCE), the person types their password, the console finishes and returns
    the browser to `next_path`."""
    await page.goto(f"{console}/login?next={next_path}")
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(password or DEMO_PASSWORDS[username])
    await page.locator("#kc-login").click()
    await page.wait_for_url(re.compile(re.escape(console) + ".*"), timeout=20_000)


async def set_language(page: Page, language: str) -> None:
    """Switch the console's language with its own switch (kept per person, in the session)."""
    if await page.locator("html").get_attribute("lang") != language:
        await page.locator("form[action='/language'] button").click()
        await page.wait_for_load_state()
        await page.wait_for_function(f"document.documentElement && document.documentElement.lang === '{language}'")


async def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """axe-core's violations of the page as it is now, of the given impacts (fetched from the npm
    registry by scripts/console-assets.sh, injected into the page)."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(Path(console_assets()) / "axe.min.js"))
    result = await page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result
        if v.get("impact") in impacts
    ]


async def screenshot(page: Page, name: str) -> Path:
    """`docs/screens/<name>.png`, the picture the README shows."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=False)
    return path
