from sqlalchemy import Column, DateTime, MetaData, PrimaryKeyConstraint, String, Table, func
from sqlalchemy.dialects.postgresql import UUID

from crm_runtime.delivery_tables import inbox_table, outbox_table

metadata = MetaData()

# One row per (workspace, identifier): the claim that makes concurrent creates converge.
identities = Table(
    "identities",
    metadata,
    Column("workspace", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("value", String(320), nullable=False),
    Column("customer_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("workspace", "kind", "value"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
