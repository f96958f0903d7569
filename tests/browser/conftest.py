"""Fixtures of the browser tier: the whole suite, the console, Debian's Chromium, the real Keycloak.

By default a fresh isolated suite is built for the session (its own databases, topics, ports) and
the console runs on port 8090 (a redirect URI of the development realm). For quick local runs,
`CRM_BROWSER_STACK=dev` uses the services `scripts/dev up` started (8001-8005) instead, and
`CRM_BROWSER_CONSOLE_PORT` (8090-8099) puts this run's console elsewhere; tests create their own
uniquely named data either way, so they never depend on an empty workspace.
"""

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from crm_devtools import browser as chromium
from crm_devtools import identity
from crm_devtools.e2e import LOG_ROOT, build_suite
from crm_devtools.suite import SERVICES, Suite

pytestmark = pytest.mark.browser
DEV_REDIS = "redis://127.0.0.1:6379/3"  # ConsoleSettings.redis_url's default


class Stack:
    """The services' and the console's addresses, and API clients as demo users (test data)."""

    def __init__(self, urls: dict[str, str], console: str, redis_url: str) -> None:
        self.urls = urls
        self.console = console
        self.redis_url = redis_url  # where this console keeps its sessions

    def url(self, service: str) -> str:
        return self.urls[service]

    def api(self, username: str = "admin", workspace: str = "main") -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=30, auth=identity.UserAuth(username, workspace))

    async def eventually(self, check: Callable[[], Awaitable[Any]], timeout: float = 30) -> Any:
        """Poll `check` until it returns something truthy (the services work through Kafka)."""
        deadline = time.monotonic() + timeout
        while True:
            found = await check()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError("the outcome did not arrive in time")
            await asyncio.sleep(0.3)


# Package scope: the suite, its console and the browser stop after the last browser test, not at the
# end of the whole run (the e2e tier after it measures and kills processes on the same box).
@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    identity.start_keycloak()
    port = int(os.environ.get("CRM_BROWSER_CONSOLE_PORT", "8090"))
    suite: Suite
    if os.environ.get("CRM_BROWSER_STACK") == "dev":
        suite = Suite(log_dir=LOG_ROOT / f"browser-dev-{port}")
        urls = {name: f"http://127.0.0.1:{base}" for name, base in SERVICES.items()}
    else:
        built = build_suite()
        built.start_all()
        built.seed()
        suite, urls = built, {name: built.url(name) for name in SERVICES}
    console = suite.start_console(port)
    try:
        console.wait_ready()
        yield Stack(urls, console.url, suite.console_env(port).get("CONSOLE_REDIS_URL", DEV_REDIS))
    finally:
        suite.stop_all()


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await chromium.launch(playwright)
        yield launched
        await launched.close()


@pytest.fixture
async def signed_in(stack: Stack, browser: Browser) -> AsyncIterator[Callable[..., Awaitable[Page]]]:
    """`await signed_in("rep.dana", language="he", viewport=chromium.PHONE, next_path="/customers")`:
    a page of a fresh browser context, signed in through the console's real flow."""
    contexts: list[BrowserContext] = []

    async def open_page(username: str, language: str = "en", viewport: dict[str, int] | None = None, next_path: str = "/customers") -> Page:
        context = await browser.new_context(viewport=viewport or chromium.DESKTOP, locale="he-IL" if language == "he" else "en-GB")
        contexts.append(context)
        page = await context.new_page()
        await chromium.sign_in(page, stack.console, username, next_path)
        await chromium.set_language(page, language)
        return page

    yield open_page
    for context in contexts:
        await context.close()


@pytest.fixture
def unique() -> str:
    """A short unique marker for names this test creates (the dev stack is shared)."""
    return uuid.uuid4().hex[:6]


async def no_serious_violations(page: Page) -> list[dict[str, Any]]:
    return await chromium.axe_violations(page)
