from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, MetaData, String, Table, func
from sqlalchemy.dialects.postgresql import JSONB, UUID

from crm_runtime.delivery_tables import inbox_table, outbox_table

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
    Column("capacity", Integer),
    Column("available", Boolean, nullable=False, server_default="true"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
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
    # The rotation cursor lives here, in the database, so restarts and instances agree.
    Column("cursor", BigInteger, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

assignments = Table(
    "assignments",
    metadata,
    Column("customer_id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("owner_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("rule_id", UUID(as_uuid=True)),
    Column("strategy", String(30), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
