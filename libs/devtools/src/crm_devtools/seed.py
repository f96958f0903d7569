"""The demo workspace `main`: one channel of each kind, custom fields, a few reps and a round-robin rule.

Seeding goes through the public HTTP APIs and is idempotent (re-running adds nothing).
"""

import os

import httpx

from crm_devtools.ready import wait_ready

# The APIs seeding goes through, and where `crm-seed` finds them: SEED_<NAME>_URL, else the dev ports.
APIS = {"intake": 8001, "customer": 8003, "allocation": 8004}

CHANNELS = [
    ("api", "DEV_API_KEY", "dev-api-key", "API"),
    ("web", "DEV_WEB_KEY", "dev-web-key", "Web Data Port"),
    ("portal", "DEV_PORTAL_KEY", "dev-portal-key", "Self-registration portal"),
    ("import", "DEV_IMPORT_KEY", "dev-import-key", "Spreadsheet import"),
    ("ui", "DEV_UI_KEY", "dev-ui-key", "Manual entry"),
    ("copy", "DEV_COPY_KEY", "dev-copy-key", "Copy between workspaces"),
]
FIELDS: list[dict[str, object]] = [
    {"key": "source", "label": "Lead source", "label_he": "מקור הליד", "kind": "text"},
    {"key": "budget", "label": "Budget", "label_he": "תקציב", "kind": "number"},
    {"key": "interest", "label": "Interest", "label_he": "תחום עניין", "kind": "multi_select", "options": ["cars", "homes", "loans"]},
]
REPS = [("Noa Cohen", "North"), ("Yossi Levi", "Center"), ("Maya Mizrahi", "South")]


def seed(urls: dict[str, str], workspace: str = "main") -> None:
    headers = {"X-Workspace": workspace}
    with httpx.Client(timeout=10, headers=headers) as http:
        existing = {c["key"] for c in http.get(urls["intake"] + "/v1/channels").raise_for_status().json()["items"]}
        for kind, env_name, default_key, name in CHANNELS:
            key = os.environ.get(env_name, default_key)
            if key not in existing:
                http.post(urls["intake"] + "/v1/channels", json={"key": key, "kind": kind, "name": name}).raise_for_status()
        defined = {d["key"] for d in http.get(urls["customer"] + "/v1/field-definitions").raise_for_status().json()["items"]}
        for definition in FIELDS:
            if definition["key"] not in defined:
                http.post(urls["customer"] + "/v1/field-definitions", json=definition).raise_for_status()
        reps = {r["name"] for r in http.get(urls["allocation"] + "/v1/reps").raise_for_status().json()["items"]}
        for rep_name, branch in REPS:
            if rep_name not in reps:
                http.post(urls["allocation"] + "/v1/reps", json={"name": rep_name, "branch": branch, "team": "Sales"}).raise_for_status()
        if not http.get(urls["allocation"] + "/v1/rules").raise_for_status().json()["items"]:
            http.post(
                urls["allocation"] + "/v1/rules", json={"name": "Everyone in turn", "strategy": "round_robin", "position": 100}
            ).raise_for_status()
    fields = ", ".join(str(d["key"]) for d in FIELDS)
    channels = ", ".join(k for _, _, k, _ in CHANNELS)
    print(f"demo workspace '{workspace}' seeded: channels {channels}; {len(REPS)} reps; round-robin rule; custom fields {fields}")


def main() -> None:
    """`crm-seed`: the demo workspace for a suite started elsewhere (compose, a dev cluster)."""
    urls = {name: os.environ.get(f"SEED_{name.upper()}_URL", f"http://127.0.0.1:{port}") for name, port in APIS.items()}
    for name, url in urls.items():
        wait_ready(name, url, timeout=120, poll_s=1)
    seed(urls, os.environ.get("SEED_WORKSPACE", "main"))
