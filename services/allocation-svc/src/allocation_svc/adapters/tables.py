from sqlalchemy import BigInteger, Boolean, Column, DateTime, Identity, Index, Integer, MetaData, String, Table, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from crm_runtime.delivery_tables import inbox_table, outbox_table
from crm_runtime.scope import rep_teams_table

metadata = MetaData()

reps = Table(
    "reps",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("team", String(200)),
    Column("branch", String(200)),
    Column("skills", JSONB, nullable=False, server_default="[]"),
    Column("weight", Integer, nullable=False, server_default="1"),
    Column("capacity", Integer),  # open leads at most; NULL = unlimited
    Column("daily_capacity", Integer),  # new leads per day at most; NULL = unlimited
    Column("available", Boolean, nullable=False, server_default="true"),  # the active flag
    Column("away", JSONB, nullable=False, server_default="[]"),  # [{"starts_at", "ends_at", "note"}]
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_by", String(255)),  # who added or last changed it (the token subject)
    # Deleted softly: gone from lists, rules and the wizard, kept as the owner of past assignments.
    Column("deleted_at", DateTime(timezone=True)),
)

# rep → team as published in RepChanged (the `team` scope's table, crm_runtime.scope), kept in
# the transaction of each rep change.
rep_teams = rep_teams_table(metadata)

# Counters read at each decision batch instead of counting (migration 0005). A rep's open leads
# (cards it owns, live and in an open status), kept by triggers on `cards` in the transaction of
# every projection write; and the leads assigned to it per day (history rows since `day_start`,
# midnight in the service's day zone), counted where owner changes are recorded.
rep_loads = Table(
    "rep_loads",
    metadata,
    Column("workspace", String(100), primary_key=True),
    Column("rep_id", UUID(as_uuid=True), primary_key=True),
    Column("open_leads", Integer, nullable=False, server_default="0"),
)

rep_days = Table(
    "rep_days",
    metadata,
    Column("rep_id", UUID(as_uuid=True), primary_key=True),
    Column("day_start", DateTime(timezone=True), primary_key=True),
    Column("assigned", Integer, nullable=False, server_default="0"),
)

rules = Table(
    "rules",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("position", Integer, nullable=False),
    Column("strategy", String(30), nullable=False),
    Column("criteria", JSONB, nullable=False, server_default="{}"),
    Column("rep_ids", JSONB, nullable=False, server_default="[]"),
    Column("fixed_rep_id", UUID(as_uuid=True)),
    Column("required_skills", JSONB, nullable=False, server_default="[]"),
    Column("active", Boolean, nullable=False, server_default="true"),
    # The rotation cursor lives here, in the database, so restarts and instances agree.
    Column("cursor", BigInteger, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_by", String(255)),  # who added or last changed it (the token subject)
)

# The current owner of each card this service assigned (one row per card: exactly once).
assignments = Table(
    "assignments",
    metadata,
    Column("customer_id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("owner_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("rule_id", UUID(as_uuid=True)),
    Column("strategy", String(30), nullable=False),
    Column("reason", String(2000), nullable=False),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
    Column("kind", String(20), nullable=False, server_default="automatic"),
    Column("run_id", UUID(as_uuid=True)),
    Column("transfer_id", UUID(as_uuid=True)),
)

# Every owner change, automatic or by a person, oldest first.
assignment_history = Table(
    "assignment_history",
    metadata,
    Column("seq", BigInteger, Identity(always=True), primary_key=True),
    Column("customer_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("workspace", String(100), nullable=False),
    Column("owner_id", UUID(as_uuid=True), nullable=False),
    Column("previous_owner_id", UUID(as_uuid=True)),
    Column("kind", String(20), nullable=False),
    Column("rule_id", UUID(as_uuid=True)),
    Column("strategy", String(30), nullable=False),
    Column("reason", String(2000), nullable=False),
    Column("run_id", UUID(as_uuid=True)),
    Column("transfer_id", UUID(as_uuid=True)),
    Column("actor", String(255)),  # the token subject of whoever acted (OIDC: at most 255)
    Column("assigned_at", DateTime(timezone=True), nullable=False),
    Column("event_id", UUID(as_uuid=True)),  # the event published for it: customer-svc's echo names it as its cause
    Index("ix_assignment_history_owner_at", "owner_id", "assigned_at"),
)

# New leads no rep could take: drained when a rep becomes available.
queue = Table(
    "queue",
    metadata,
    Column("customer_id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("rule_id", UUID(as_uuid=True)),
    Column("reason", String(2000), nullable=False),
    Column("queued_at", DateTime(timezone=True), nullable=False),
    Column("tried_at", DateTime(timezone=True), nullable=False),
    Index("ix_queue_workspace_queued", "workspace", "queued_at"),
)

# allocation-svc's own projection of crm.customer.events.v1: what rules and the wizard read.
cards = Table(
    "cards",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("number", BigInteger, nullable=False),
    Column("name", String(400), nullable=False, server_default=""),
    Column("card_type", String(30), nullable=False),
    Column("status", String(30), nullable=False),
    Column("folder", String(200)),
    Column("branch", String(200)),
    Column("tags", JSONB, nullable=False, server_default="[]"),
    Column("fields", JSONB, nullable=False, server_default="{}"),
    Column("channel_kind", String(30)),
    Column("channel_key", String(200)),
    Column("affiliate_name", String(200)),
    Column("affiliate_account", String(100)),
    Column("owner_id", UUID(as_uuid=True)),
    Column("team_member_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"),  # count as own (scope)
    Column("hidden", Boolean, nullable=False, server_default="false"),  # merged away or deleted
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_cards_workspace_created", "workspace", "created_at"),
    Index("ix_cards_owner", "owner_id"),
    Index("ix_cards_team_members", "team_member_ids", postgresql_using="gin"),
    Index("ix_cards_tags", "tags", postgresql_using="gin", postgresql_ops={"tags": "jsonb_path_ops"}),
)

# Wizard runs: a preview is stored, then applied as one run (or left to expire).
runs = Table(
    "runs",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("state", String(20), nullable=False),  # previewed | applied
    Column("request", JSONB, nullable=False),
    Column("per_rep", JSONB, nullable=False),
    Column("selected", Integer, nullable=False),
    Column("planned", Integer, nullable=False),
    Column("applied", Integer),
    Column("skipped", Integer),
    Column("created_by", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("applied_at", DateTime(timezone=True)),
    Column("applied_by", String(255)),
    Index("ix_runs_workspace_created", "workspace", "created_at"),
)

run_items = Table(
    "run_items",
    metadata,
    Column("run_id", UUID(as_uuid=True), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("customer_id", UUID(as_uuid=True), nullable=False),
    Column("rep_id", UUID(as_uuid=True), nullable=False),
    Column("previous_owner_id", UUID(as_uuid=True)),
    Column("outcome", String(20)),  # applied | skipped (after apply)
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("from_rep_id", UUID(as_uuid=True)),
    Column("to_rep_id", UUID(as_uuid=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("customer_ids", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_transfers_workspace_created", "workspace", "created_at"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
