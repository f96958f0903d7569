"""Waiting for a service to answer `/readyz`: the suite's processes, and `crm-seed` for a suite started elsewhere."""

import time
from collections.abc import Callable

import httpx


def wait_ready(name: str, url: str, timeout: float, gone: Callable[[], str | None] = lambda: None, poll_s: float = 0.2) -> None:
    """Until `url`/readyz answers 200. `gone` names why waiting is pointless (a process that exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (why := gone()) is not None:
            raise RuntimeError(why)
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(poll_s)
    raise TimeoutError(f"{name} at {url} not ready after {timeout:.0f} s")
