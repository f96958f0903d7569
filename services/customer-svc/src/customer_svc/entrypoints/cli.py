"""`python -m customer_svc members grant|revoke|list`: workspace memberships for operators.

The seed and operators use it before any administrator exists (the API needs one). It writes
the database and the outbox exactly as the API does, with the actor `cli`; the serving
process's outbox relay publishes the change on the access topic, and audits it. The same
rules hold: a workspace's last administrator cannot be removed or demoted. `grant --rep <uuid>`
links the user to the rep who carries their leads (`--no-rep` unlinks; neither: left as it is).
"""

import argparse
import asyncio
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import TextIO

from crm_contracts.envelope import WORKSPACE_MAX
from crm_contracts.events import Role
from crm_contracts.text import unstorable
from crm_runtime.audit import AuditTrail
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


def _rep(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a UUID") from None


def _line(subject: str, role: Role, username: str | None, rep_id: uuid.UUID | None) -> str:
    return f"{subject}\t{role.value}\t{username or ''}" + (f"\t{rep_id}" if rep_id else "")


def parser(prog: str = "customer-svc members") -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=prog, description="Workspace memberships (who may act in which workspace).")
    commands = top.add_subparsers(dest="action", required=True)
    grant = commands.add_parser("grant", help="make a user a member of a workspace, or change their role")
    revoke = commands.add_parser("revoke", help="remove a user's membership of a workspace")
    listing = commands.add_parser("list", help="a workspace's members: subject, role, username[, rep] (tab-separated)")
    for command in (grant, revoke, listing):
        command.add_argument("--workspace", required=True, type=_text(WORKSPACE_MAX))
    for command in (grant, revoke):
        command.add_argument("--subject", required=True, type=_text(255), help="the identity provider's `sub` of the user")
    grant.add_argument("--role", required=True, choices=[r.value for r in Role])
    grant.add_argument("--username", type=_text(255), help="for display (default: left as it is)")
    rep = grant.add_mutually_exclusive_group()
    rep.add_argument("--rep", type=_rep, help="the rep (allocation-svc id) who carries the user's leads (default: left as it is)")
    rep.add_argument("--no-rep", action="store_true", help="unlink the user's rep")
    return top


async def members(settings: CustomerSettings, argv: Sequence[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run one `members` command against the service's database; the exit status."""
    args = parser().parse_args(argv)
    engine = make_engine(settings)
    sessions = make_session_factory(engine)
    outbox = Outbox(metadata.tables["outbox"], settings)
    service = MembershipService(sessions, outbox, AuditTrail(settings, outbox, sessions))
    try:
        if args.action == "grant":
            stored = await service.put(
                args.workspace,
                args.subject,
                Role(args.role),
                args.username,
                CLI_ACTOR,
                keep_username=args.username is None,
                rep_id=args.rep,
                keep_rep=args.rep is None and not args.no_rep,
            )
            print(_line(stored.subject, stored.role, stored.username, stored.rep_id), file=out)
        elif args.action == "revoke":
            await service.remove(args.workspace, args.subject, CLI_ACTOR)
        else:
            after = None
            while page := await service.page(args.workspace, after, PAGE):
                for m in page:
                    print(_line(m.subject, m.role, m.username, m.rep_id), file=out)
                after = page[-1].subject
    except Problem as problem:
        print(f"{problem.title}: {problem.detail or ''}".rstrip(": "), file=err)
        return 1
    finally:
        await engine.dispose()
    return 0


def main(settings: CustomerSettings, argv: Sequence[str]) -> int:
    return asyncio.run(members(settings, argv))
