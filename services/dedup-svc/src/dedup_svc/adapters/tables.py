from sqlalchemy import ARRAY, Boolean, Column, DateTime, Index, Integer, MetaData, PrimaryKeyConstraint, String, Table, func, text
from sqlalchemy.dialects.postgresql import UUID

from crm_runtime.delivery_tables import inbox_table, outbox_table

metadata = MetaData()

# Exact identifiers → the cards holding them. One card per identifier holds the *claim*
# (the partial unique index): the first create wins it, so concurrent creates of one person
# converge. Cards made where duplicates are allowed hold the identifier unclaimed.
identities = Table(
    "identities",
    metadata,
    Column("workspace", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("value", String(320), nullable=False),
    Column("customer_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("claimed", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("workspace", "kind", "value", "customer_id"),
    Index("ux_identities_claim", "workspace", "kind", "value", unique=True, postgresql_where=text("claimed")),
)

# What dedup knows of each card: the normalised record it scores candidates against, the
# status the web rules need (4.3), and the account of trading-style workspaces.
people = Table(
    "people",
    metadata,
    Column("customer_id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("number", Integer),
    Column("status", String(40), nullable=False, server_default="new"),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("display_name", String(400), nullable=False, server_default=""),
    Column("given_name", String(200), nullable=False, server_default=""),
    Column("surname", String(200), nullable=False, server_default=""),
    Column("company", String(200), nullable=False, server_default=""),
    Column("phones", ARRAY(String(32)), nullable=False, server_default="{}"),
    Column("emails", ARRAY(String(320)), nullable=False, server_default="{}"),
    Column("national_id", String(9), nullable=False, server_default=""),
    Column("birth_date", String(8), nullable=False, server_default=""),
    Column("street", String(300), nullable=False, server_default=""),
    Column("city", String(200), nullable=False, server_default=""),
    Column("postcode", String(20), nullable=False, server_default=""),
    Column("account", String(100), nullable=False, server_default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # What the record scope needs (crm_runtime.permissions.CardView), from the card's snapshots.
    Column("owner_id", UUID(as_uuid=True)),
    Column("team_member_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"),
    Column("folder", String(200)),
)

# Cards erased for good (CustomerErased): never indexed again, whatever event comes later.
erased_customers = Table(
    "erased_customers",
    metadata,
    Column("customer_id", UUID(as_uuid=True), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("erased_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Fuzzy blocking keys (domain.blocking) → cards; read with a cap per key.
block_keys = Table(
    "block_keys",
    metadata,
    Column("workspace", String(100), nullable=False),
    Column("key", String(400), nullable=False),
    Column("customer_id", UUID(as_uuid=True), nullable=False, index=True),
    PrimaryKeyConstraint("workspace", "key", "customer_id"),
)

# Per-workspace duplicate rules (DESIGN 4.4): allow several cards per person, or the
# trading style (one card per account, cards of one person linked by national ID).
workspace_settings = Table(
    "workspace_settings",
    metadata,
    Column("workspace", String(100), primary_key=True),
    Column("allow_duplicates", Boolean, nullable=False, server_default=text("false")),
    Column("link_by_national_id", Boolean, nullable=False, server_default=text("false")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_by", String(255)),  # who changed them last (the token subject)
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
