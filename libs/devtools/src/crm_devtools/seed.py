"""The demo workspace `main`: the demo users' memberships, one channel of each kind, custom
fields, a few reps and a round-robin rule.

Memberships come first and through customer-svc's own command (`python -m customer_svc members
grant`, run with customer-svc's environment): before them nobody may call the APIs, and the
API that grants memberships needs an administrator. Everything else goes through the public
HTTP APIs as the demo administrator (a password-grant token from the development realm).
Seeding is idempotent (re-running adds nothing).
"""

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping

import httpx

from crm_contracts.events import Role
from crm_devtools import identity
from crm_devtools.ready import wait_ready

# The APIs seeding goes through, and where `crm-seed` finds them: SEED_<NAME>_URL, else the dev ports.
APIS = {"intake": 8001, "customer": 8003, "allocation": 8004}

# Who the demo users are in the demo workspace (user names of infra/keycloak/crm-realm.json).
MEMBERS: list[tuple[str, Role]] = [
    ("admin", Role.ADMINISTRATOR),
    ("manager", Role.MANAGER),
    ("rep.dana", Role.SALES_REP),
    ("rep.yossi", Role.SALES_REP),
]
ADMIN = "admin"

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
REPS = [("Noa Cohen", "North"), ("Yossi Levi", "Center"), ("Maya Mizrahi", "South"), ("Dana Amir", "Center")]
# The demo sales reps' users carry these reps' leads: their `own` cards (issue 17's record scope).
REP_LINKS = {"rep.dana": "Dana Amir", "rep.yossi": "Yossi Levi"}

# Several `members grant` commands in one interpreter: a customer-svc start costs about 2 s of CPU.
_GRANT_SCRIPT = """
import json, sys
from customer_svc.__main__ import main
for argv in json.loads(sys.argv[1]):
    sys.argv = ["customer_svc", *argv]
    try:
        main()
    except SystemExit as done:
        if done.code not in (0, None):
            raise
"""


def grant_commands(grants: Iterable[tuple[str, str, Role]]) -> list[list[str]]:
    """The `members grant` arguments of `(workspace, demo user name, role)` memberships."""
    commands = []
    for workspace, username, role in grants:
        user = identity.demo_user(username)
        options = ["--workspace", workspace, "--subject", user.subject, "--role", role.value, "--username", username]
        commands.append(["members", "grant", *options])
    return commands


def grant_members(grants: Iterable[tuple[str, str, Role]], env: Mapping[str, str] | None = None) -> None:
    """`(workspace, demo user name, role)` memberships through customer-svc's `members grant`,
    run with `env` (customer-svc's settings; default: this process's environment). The serving
    customer-svc publishes them on the access topic; every service's cache follows."""
    commands = grant_commands(grants)
    if not commands:
        return
    done = subprocess.run(
        [sys.executable, "-c", _GRANT_SCRIPT, json.dumps(commands)],
        env=dict(os.environ if env is None else env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"customer-svc members grant failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


# A read each service answers to a member of the workspace and refuses (403) to anyone else.
PROBES = {
    "intake": "/v1/channels",
    "dedup": "/v1/duplicate-rules",
    "customer": "/v1/field-definitions",
    "allocation": "/v1/reps",
    "timeline": "/v1/reminders",
}


def wait_for_membership(http: httpx.Client, urls: Mapping[str, str], timeout: float = 60.0) -> None:
    """Wait until every API in `urls` knows the caller of `http` as a member of the workspace it
    names: a new membership reaches each service's cache over the access topic a moment after
    customer-svc stored it."""
    deadline = time.monotonic() + timeout
    waiting = {name: url + PROBES[name] for name, url in urls.items() if name in PROBES}
    while waiting:
        for name, url in list(waiting.items()):
            status = http.get(url).status_code
            if status == 401:
                raise RuntimeError(f"{name}-svc refuses the token (401): is it pointed at the issuer {identity.issuer_url()}?")
            if status != 403:
                del waiting[name]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the membership did not reach {', '.join(sorted(waiting))} within {timeout}s")
        time.sleep(0.2)


def _created(answer: httpx.Response) -> None:
    """201 created, or 409: it was there already (idempotent seeding)."""
    if answer.status_code != 409:
        answer.raise_for_status()


def link_reps(http: httpx.Client, urls: Mapping[str, str]) -> None:
    """Link the demo sales reps' users that are members of the workspace to their reps
    (`PUT /v1/members/{subject}` with `rep_id`, their role kept); a user who is not a member
    stays one of none (a suite may keep one outside the workspace on purpose)."""
    reps = {r["name"]: r["id"] for r in http.get(urls["allocation"] + "/v1/reps").raise_for_status().json()["items"]}
    members = {
        m["subject"]: m for m in http.get(urls["customer"] + "/v1/members", params={"limit": 200}).raise_for_status().json()["items"]
    }
    for username, rep_name in REP_LINKS.items():
        member = members.get(identity.demo_user(username).subject)
        if member is not None and member.get("rep_id") != reps[rep_name]:
            body = {"role": member["role"], "rep_id": reps[rep_name]}
            http.put(urls["customer"] + f"/v1/members/{member['subject']}", json=body).raise_for_status()


def seed(urls: Mapping[str, str], workspace: str = "main", *, env: Mapping[str, str] | None = None, grant: bool = True) -> None:
    """Seed `workspace`: the demo users' memberships (with customer-svc's environment `env`,
    unless `grant` is off), then channels, custom fields, reps and a rule as the demo
    administrator."""
    if grant:
        grant_members([(workspace, username, role) for username, role in MEMBERS], env)
    auth = identity.UserAuth(ADMIN, workspace)
    with httpx.Client(timeout=10, auth=auth) as http:
        wait_for_membership(http, urls)
        for kind, env_name, default_key, name in CHANNELS:
            key = os.environ.get(env_name, default_key)
            _created(http.post(urls["intake"] + "/v1/channels", json={"key": key, "kind": kind, "name": name}))
        defined = {d["key"] for d in http.get(urls["customer"] + "/v1/field-definitions").raise_for_status().json()["items"]}
        for definition in FIELDS:
            if definition["key"] not in defined:
                _created(http.post(urls["customer"] + "/v1/field-definitions", json=definition))
        reps = {r["name"] for r in http.get(urls["allocation"] + "/v1/reps").raise_for_status().json()["items"]}
        for rep_name, branch in REPS:
            if rep_name not in reps:
                http.post(urls["allocation"] + "/v1/reps", json={"name": rep_name, "branch": branch, "team": "Sales"}).raise_for_status()
        link_reps(http, urls)
        if not http.get(urls["allocation"] + "/v1/rules").raise_for_status().json()["items"]:
            http.post(
                urls["allocation"] + "/v1/rules", json={"name": "Everyone in turn", "strategy": "round_robin", "position": 100}
            ).raise_for_status()
    fields = ", ".join(str(d["key"]) for d in FIELDS)
    channels = ", ".join(k for _, _, k, _ in CHANNELS)
    members = ", ".join(f"{u} ({r.value})" for u, r in MEMBERS)
    print(
        f"demo workspace '{workspace}' seeded: members {members}; channels {channels}; {len(REPS)} reps "
        f"({', '.join(f'{u} is {r}' for u, r in REP_LINKS.items())}); "
        f"round-robin rule; custom fields {fields}"
    )


def main() -> None:
    """`crm-seed`: the demo workspace for a suite started elsewhere (compose, a dev cluster).

    Memberships are granted here only where customer-svc's code is installed (`SEED_GRANT=0`
    skips it); elsewhere they must be granted with customer-svc's own command inside it, which
    this prints. The administrator's token comes from the issuer `CRM_OIDC_ISSUER` names (the
    services' `OIDC_ISSUER`; default the local Keycloak)."""
    urls = {name: os.environ.get(f"SEED_{name.upper()}_URL", f"http://127.0.0.1:{port}") for name, port in APIS.items()}
    for name, url in urls.items():
        wait_ready(name, url, timeout=120, poll_s=1)
    workspace = os.environ.get("SEED_WORKSPACE", "main")
    grant = os.environ.get("SEED_GRANT", "1") != "0" and importlib.util.find_spec("customer_svc") is not None
    if not grant:
        print("memberships are not granted here; in customer-svc run:")
        for command in grant_commands([(workspace, username, role) for username, role in MEMBERS]):
            print("  python -m customer_svc " + " ".join(command))
    seed(urls, workspace, grant=grant)
