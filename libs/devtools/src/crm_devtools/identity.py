"""The development identity provider: Keycloak with the `crm` realm of infra/keycloak/crm-realm.json.

`scripts/infra.sh start keycloak` starts it (idempotent); the realm file is the one source of the
demo users, their development passwords and the services' development secrets, which
`crm-suite up` prints and the tests use. Nothing here is for production: a production issuer is
any OIDC provider, reached through the services' settings.
"""

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[4]
REALM_FILE = REPO / "infra" / "keycloak" / "crm-realm.json"
INFRA_SCRIPT = REPO / "scripts" / "infra.sh"
REALM = "crm"
API_AUDIENCE = "crm-api"
PASSWORD_CLIENT = "crm-dev-cli"  # development realm only: the password grant, for tests and curl
DEFAULT_PORT = 8180


@dataclass(frozen=True)
class DemoUser:
    subject: str  # the fixed user id of the realm file: the token's `sub`, what memberships name
    username: str
    name: str
    email: str
    password: str


@dataclass(frozen=True)
class ServiceClient:
    client_id: str
    secret: str


def keycloak_port() -> int:
    return int(os.environ.get("CRM_KEYCLOAK_PORT", str(DEFAULT_PORT)))


def issuer_url() -> str:
    return f"http://127.0.0.1:{keycloak_port()}/realms/{REALM}"


def token_url() -> str:
    return f"{issuer_url()}/protocol/openid-connect/token"


def load_realm(path: Path = REALM_FILE) -> dict[str, Any]:
    realm: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return realm


def _password(entry: dict[str, Any]) -> str:
    for credential in entry.get("credentials", []):
        if credential.get("type") == "password":
            return str(credential["value"])
    raise ValueError(f"user {entry['username']} has no password in {REALM_FILE.name}")


def demo_users(realm: dict[str, Any] | None = None) -> list[DemoUser]:
    """The realm's users, in the file's order, with their development passwords."""
    realm = load_realm() if realm is None else realm
    return [
        DemoUser(
            subject=u["id"],
            username=u["username"],
            name=f"{u.get('firstName', '')} {u.get('lastName', '')}".strip(),
            email=u.get("email", ""),
            password=_password(u),
        )
        for u in realm.get("users", [])
    ]


def service_clients(realm: dict[str, Any] | None = None) -> list[ServiceClient]:
    """The confidential clients that may use the client-credentials grant (one per service)."""
    realm = load_realm() if realm is None else realm
    return [
        ServiceClient(client_id=c["clientId"], secret=c["secret"])
        for c in realm.get("clients", [])
        if c.get("serviceAccountsEnabled") and not c.get("publicClient")
    ]


def start_keycloak() -> str:
    """Start Keycloak through the infrastructure script (no-op when it runs); the issuer URL."""
    subprocess.run([str(INFRA_SCRIPT), "start", "keycloak"], check=True)
    return issuer_url()


def describe() -> list[str]:
    """Lines for `crm-suite up`: the issuer and the demo users, marked as development-only."""
    users = demo_users()
    width = max((len(u.username) for u in users), default=0)
    lines = [
        f"Sign-in (Keycloak, realm {REALM}): issuer {issuer_url()}",
        f"  admin console {issuer_url().rsplit('/realms/', 1)[0]}/admin (kc-admin / kc-admin-dev)",
        "  demo users, DEVELOPMENT PASSWORDS ONLY (from infra/keycloak/crm-realm.json):",
    ]
    lines += [f"    {u.username:{width}}  {u.password:12} {u.name} <{u.email}>" for u in users]
    if not users:
        return lines
    sample = next((u for u in users if u.username.startswith("rep.")), users[0])
    grant = f"-d grant_type=password -d client_id={PASSWORD_CLIENT} -d username={sample.username} -d password={sample.password}"
    lines += [
        f"  a token for curl (development realm only: password grant through client {PASSWORD_CLIENT}):",
        f"    TOKEN=$(curl -s {grant} \\",
        f"      {token_url()} | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
    ]
    return lines


def issuer_ready(timeout: float = 3.0) -> bool:
    """The realm's discovery document answers."""
    try:
        return httpx.get(f"{issuer_url()}/.well-known/openid-configuration", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False
