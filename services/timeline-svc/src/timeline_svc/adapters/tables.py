from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from crm_runtime.delivery_tables import inbox_table, outbox_table
from crm_runtime.scope import rep_teams_table

metadata = MetaData()

# `original_customer_id` / `merge_id`: set while a merge keeps the row under another card
# (the card it was recorded on, and the latest merge that moved it); `moves` is the record
# that undoing a merge works from.
entries = Table(
    "entries",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("customer_id", UUID(as_uuid=True), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("summary", Text, nullable=False),
    Column("data", JSONB, nullable=False, server_default="{}"),
    Column("source_event_id", UUID(as_uuid=True), unique=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("original_customer_id", UUID(as_uuid=True)),
    Column("merge_id", UUID(as_uuid=True)),
)
Index("ix_entries_customer_time", entries.c.customer_id, entries.c.occurred_at.desc(), entries.c.id.desc())
# A page of one kind (`?kind=`) without walking past the other kinds of a long history.
Index("ix_entries_customer_kind_time", entries.c.customer_id, entries.c.kind, entries.c.occurred_at.desc(), entries.c.id.desc())
Index("ix_entries_merge_id", entries.c.merge_id, postgresql_where=entries.c.merge_id.isnot(None))

# An interaction's timeline entry has the interaction's id.
interactions = Table(
    "interactions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("customer_id", UUID(as_uuid=True), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("direction", String(20)),
    Column("outcome", String(40)),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("scheduled_at", DateTime(timezone=True)),
    Column("due_at", DateTime(timezone=True)),
    Column("done", Boolean, nullable=False, server_default=false()),
    Column("summary", Text),
    Column("body", Text),
    Column("owner_id", UUID(as_uuid=True)),
    Column("external_id", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("original_customer_id", UUID(as_uuid=True)),
    Column("merge_id", UUID(as_uuid=True)),
    Column("done_at", DateTime(timezone=True)),
    Column("duration_seconds", Integer),
    Column("recording_url", Text),
    # Who acted (the token subject): recorded it over HTTP (null: reported by a gateway), changed it last.
    Column("recorded_by", String(255)),
    Column("changed_by", String(255)),
)
Index("ix_interactions_customer_id", interactions.c.customer_id)
# The follow-up list (`GET /v1/reminders`): open or done reminders, oldest due first, per
# workspace or per owner.
_REMINDER = interactions.c.kind == "reminder"
Index(
    "ix_interactions_reminders",
    interactions.c.workspace,
    interactions.c.done,
    interactions.c.due_at,
    interactions.c.id,
    postgresql_where=_REMINDER,
)
Index(
    "ix_interactions_owner_reminders",
    interactions.c.owner_id,
    interactions.c.done,
    interactions.c.due_at,
    interactions.c.id,
    postgresql_where=_REMINDER,
)
# The follow-up list's meetings (`GET /v1/meetings`): by outcome, soonest first, per workspace or per owner.
_MEETING = interactions.c.kind == "meeting"
Index(
    "ix_interactions_meetings",
    interactions.c.workspace,
    interactions.c.outcome,
    interactions.c.scheduled_at,
    interactions.c.id,
    postgresql_where=_MEETING,
)
Index(
    "ix_interactions_owner_meetings",
    interactions.c.owner_id,
    interactions.c.outcome,
    interactions.c.scheduled_at,
    interactions.c.id,
    postgresql_where=_MEETING,
)
Index(
    "ux_interactions_external_id",
    interactions.c.workspace,
    interactions.c.external_id,
    unique=True,
    postgresql_where=interactions.c.external_id.isnot(None),
)
Index("ix_interactions_merge_id", interactions.c.merge_id, postgresql_where=interactions.c.merge_id.isnot(None))

contact_dates = Table(
    "contact_dates",
    metadata,
    Column("customer_id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("last_contact_at", DateTime(timezone=True)),
    Column("next_contact_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Active merges: where a merged card's rows now live (new interactions for it follow them).
merges = Table(
    "merges",
    metadata,
    Column("customer_id", UUID(as_uuid=True), primary_key=True),
    Column("merge_id", UUID(as_uuid=True), nullable=False),
    Column("survivor_id", UUID(as_uuid=True), nullable=False),
    Column("workspace", String(100), nullable=False),
    Column("merged_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_merges_merge_id", merges.c.merge_id)

# One row per row a merge moved (`item` = `entry` | `interaction`), in move order (`seq`):
# undoing a merge moves back exactly its rows.
moves = Table(
    "moves",
    metadata,
    Column("seq", BigInteger, Identity(always=True)),
    Column("merge_id", UUID(as_uuid=True), nullable=False),
    Column("item", String(20), nullable=False),
    Column("item_id", UUID(as_uuid=True), nullable=False),
    Column("from_customer_id", UUID(as_uuid=True), nullable=False),
    Column("to_customer_id", UUID(as_uuid=True), nullable=False),
    PrimaryKeyConstraint("seq"),
    UniqueConstraint("merge_id", "item", "item_id", name="uq_moves_merge_item"),
)
Index("ix_moves_item", moves.c.item, moves.c.item_id)

# The workspace of every card this service knows (from its `created` event, or confirmed by
# customer-svc): an event or an interaction is applied only in its card's workspace. With the
# card's access attributes (the record scope: owner, team members, folder; deleted or erased),
# kept from customer events (or customer-svc's answer, for a card confirmed there first).
customers = Table(
    "customers",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("known_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("owner_id", UUID(as_uuid=True)),
    Column("team_member_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"),
    Column("folder", String(200)),
    Column("deleted", Boolean, nullable=False, server_default=false()),  # soft-deleted (or erased): absent everywhere
    Column("erased", Boolean, nullable=False, server_default=false()),  # its personal data removed for good
    Index("ix_customers_workspace_owner", "workspace", "owner_id"),
    Index("ix_customers_team_members", "team_member_ids", postgresql_using="gin"),
)

# rep → team, from allocation-svc's RepChanged (the `team` scope, crm_runtime.scope).
rep_teams = rep_teams_table(metadata)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
