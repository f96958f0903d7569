"""`python -m customer_svc members grant|revoke|list`: workspace memberships for operators.

The seed and operators use it before any administrator exists (the API needs one). It writes
the database and the outbox exactly as the API does, with the actor `cli`; the serving
process's outbox relay publishes the change on the access topic. The same rules hold: a
workspace's last administrator cannot be removed or demoted.
"""

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from crm_contracts.envelope import WORKSPACE_MAX
from crm_contracts.events import Role
from crm_contracts.text import unstorable
from crm_runtime.db import make_engine, make_session_factory
from crm_runtime.outbox import Outbox
from crm_runtime.problems import Problem
from customer_svc.adapters.tables import metadata
from customer_svc.config import CustomerSettings
from customer_svc.domain.memberships import CLI_ACTOR
from customer_svc.service_layer.memberships import MembershipService

PAGE = 500


def _text(limit: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not value.strip() or len(value) > limit or unstorable(value):
            raise argparse.ArgumentTypeError(f"must be 1..{limit} characters, none of them NUL")
        return value

    return check


def parser(prog: str = "customer-svc members") -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=prog, description="Workspace memberships (who may act in which workspace).")
    commands = top.add_subparsers(dest="action", required=True)
    grant = commands.add_parser("grant", help="make a user a member of a workspace, or change their role")
    revoke = commands.add_parser("revoke", help="remove a user's membership of a workspace")
    listing = commands.add_parser("list", help="a workspace's members: subject, role, username (tab-separated)")
    for command in (grant, revoke, listing):
        command.add_argument("--workspace", required=True, type=_text(WORKSPACE_MAX))
    for command in (grant, revoke):
        command.add_argument("--subject", required=True, type=_text(255), help="the identity provider's `sub` of the user")
    grant.add_argument("--role", required=True, choices=[r.value for r in Role])
    grant.add_argument("--username", type=_text(255), help="for display (default: left as it is)")
    return top


async def members(settings: CustomerSettings, argv: Sequence[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run one `members` command against the service's database; the exit status."""
    args = parser().parse_args(argv)
    engine = make_engine(settings)
    service = MembershipService(make_session_factory(engine), Outbox(metadata.tables["outbox"], settings))
    try:
        if args.action == "grant":
            stored = await service.put(
                args.workspace, args.subject, Role(args.role), args.username, CLI_ACTOR, keep_username=args.username is None
            )
            print(f"{stored.subject}\t{stored.role.value}\t{stored.username or ''}", file=out)
        elif args.action == "revoke":
            await service.remove(args.workspace, args.subject, CLI_ACTOR)
        else:
            after = None
            while page := await service.page(args.workspace, after, PAGE):
                for m in page:
                    print(f"{m.subject}\t{m.role.value}\t{m.username or ''}", file=out)
                after = page[-1].subject
    except Problem as problem:
        print(f"{problem.title}: {problem.detail or ''}".rstrip(": "), file=err)
        return 1
    finally:
        await engine.dispose()
    return 0


def main(settings: CustomerSettings, argv: Sequence[str]) -> int:
    return asyncio.run(members(settings, argv))
