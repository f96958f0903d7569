"""Broker administration the pinned aiokafka admin client has no methods for: ACLs and SCRAM
credentials, spoken over its connection with the Kafka protocol's own requests.

- `CreateAcls` v1 (one request for any number of bindings; an existing binding is accepted
  again without error, so applying a table twice is harmless);
- `DescribeAcls` v1 (aiokafka's request) to read them back;
- `AlterUserScramCredentials` v0 to upsert SCRAM-SHA-512 credentials (salted here with
  PBKDF2-HMAC, RFC 5802's Hi(); the password itself never goes over the wire).

The caller must be a super user (`crm-admin`). Every error the broker answers is raised.
"""

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import CreateAclsRequest_v1, DescribeAclsRequest
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import CompactArray, CompactBytes, CompactString, Int8, Int16, Int32, Schema, TaggedFields

Resource = Literal["topic", "group", "cluster"]
Operation = Literal["Read", "Write", "Create", "Describe", "IdempotentWrite", "All"]
Pattern = Literal["literal", "prefixed"]

# The protocol's codes (org.apache.kafka.common.resource / acl).
RESOURCE_TYPES: Final[dict[str, int]] = {"topic": 2, "group": 3, "cluster": 4}
PATTERN_TYPES: Final[dict[str, int]] = {"literal": 3, "prefixed": 4}
OPERATIONS: Final[dict[str, int]] = {"All": 2, "Read": 3, "Write": 4, "Create": 5, "Describe": 8, "IdempotentWrite": 12}
ANY = 1
ALLOW = 3
SCRAM_MECHANISMS: Final[dict[str, int]] = {"SCRAM-SHA-256": 1, "SCRAM-SHA-512": 2}
SCRAM_ITERATIONS = 4096  # the broker's minimum for SCRAM-SHA-512


@dataclass(frozen=True, order=True)
class Binding:
    """One ALLOW rule: `principal` (a user name, without `User:`) may do `operation` on the
    resource, from any host."""

    principal: str
    resource: Resource
    name: str
    operation: Operation
    pattern: Pattern = "literal"


class _CreateAcls(Request[CreateAclsRequest_v1]):  # type: ignore[misc]
    """Every binding in one request (aiokafka's own request carries a single one)."""

    API_KEY = 30

    def __init__(self, bindings: Sequence[Binding]) -> None:
        self._bindings = bindings

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> Any:
        return request_struct_class(
            [
                (RESOURCE_TYPES[b.resource], b.name, PATTERN_TYPES[b.pattern], f"User:{b.principal}", "*", OPERATIONS[b.operation], ALLOW)
                for b in self._bindings
            ]
        )


class _AlterUserScramCredentialsResponse(Response):  # type: ignore[misc]
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user_name", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterUserScramCredentialsStruct(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = _AlterUserScramCredentialsResponse
    SCHEMA = Schema(
        ("deletions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8), ("tags", TaggedFields))),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterUserScramCredentials(Request[_AlterUserScramCredentialsStruct]):  # type: ignore[misc]
    API_KEY = 51

    def __init__(self, upsertions: list[tuple[str, int, int, bytes, bytes, dict[int, bytes]]]) -> None:
        self._upsertions = upsertions

    def build(self, request_struct_class: type[_AlterUserScramCredentialsStruct]) -> Any:
        return request_struct_class([], self._upsertions, {})


def _raise_for(error_code: int, message: str | None, what: str) -> None:
    if error_code:
        raise for_code(error_code)(f"{what}: {message or ''}".rstrip(": "))


async def create_acls(admin: AIOKafkaAdminClient, bindings: Iterable[Binding]) -> int:
    """Create every binding (idempotent); returns how many were sent."""
    wanted = sorted(set(bindings))
    if not wanted:
        return 0
    response = await admin._send_request(_CreateAcls(wanted))  # noqa: SLF001 - no public ACL API in aiokafka
    for binding, (error_code, message) in zip(wanted, response.creation_responses, strict=True):
        _raise_for(error_code, message, f"CreateAcls {binding}")
    return len(wanted)


async def describe_acls(admin: AIOKafkaAdminClient, principal: str | None = None) -> set[Binding]:
    """Every ALLOW binding on topics, groups and the cluster (of `principal` only, if given)."""
    request = DescribeAclsRequest(ANY, None, ANY, f"User:{principal}" if principal else None, None, ANY, ALLOW)
    response = await admin._send_request(request)  # noqa: SLF001 - no public ACL API in aiokafka
    _raise_for(response.error_code, response.error_message, "DescribeAcls")
    names = {code: name for name, code in RESOURCE_TYPES.items()}
    patterns = {code: name for name, code in PATTERN_TYPES.items()}
    operations = {code: name for name, code in OPERATIONS.items()}
    found: set[Binding] = set()
    for resource_type, resource_name, pattern_type, acls in response.resources:
        for acl_principal, _host, operation, _permission in acls:
            if resource_type in names and pattern_type in patterns and operation in operations:
                found.add(
                    Binding(
                        acl_principal.removeprefix("User:"),
                        names[resource_type],  # type: ignore[arg-type]
                        resource_name,
                        operations[operation],  # type: ignore[arg-type]
                        patterns[pattern_type],  # type: ignore[arg-type]
                    )
                )
    return found


def salted_password(password: str, salt: bytes, mechanism: str = "SCRAM-SHA-512", iterations: int = SCRAM_ITERATIONS) -> bytes:
    """RFC 5802 Hi(password, salt, i): PBKDF2 with the mechanism's HMAC."""
    digest = "sha512" if mechanism == "SCRAM-SHA-512" else "sha256"
    return hashlib.pbkdf2_hmac(digest, password.encode(), salt, iterations)


async def upsert_scram_credentials(admin: AIOKafkaAdminClient, users: dict[str, str], mechanism: str = "SCRAM-SHA-512") -> None:
    """Give every user in `users` (name → password) a SCRAM credential of `mechanism`,
    replacing any earlier one (idempotent in effect: the same password keeps working)."""
    if not users:
        return
    upsertions: list[tuple[str, int, int, bytes, bytes, dict[int, bytes]]] = []
    for name, password in sorted(users.items()):
        salt = os.urandom(32)
        upsertions.append((name, SCRAM_MECHANISMS[mechanism], SCRAM_ITERATIONS, salt, salted_password(password, salt, mechanism), {}))
    response = await admin._send_request(_AlterUserScramCredentials(upsertions))  # noqa: SLF001 - no public SCRAM API in aiokafka
    for user_name, error_code, message, _tags in response.results:
        _raise_for(error_code, message, f"AlterUserScramCredentials {user_name}")


__all__ = ["Binding", "create_acls", "describe_acls", "salted_password", "upsert_scram_credentials"]
