"""the full card: identity extras, search document, custom field definitions, contacts, relations, merges

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.add_column("customers", sa.Column("birth_date", sa.Date()))
    op.add_column("customers", sa.Column("account_number", sa.String(100)))
    op.add_column("customers", sa.Column("avatar", sa.String(500)))
    op.add_column("customers", sa.Column("merged_into", sa.UUID()))
    op.add_column("customers", sa.Column("last_conversation_at", sa.DateTime(timezone=True)))
    op.add_column("customers", sa.Column("unknown_fields", JSONB(), server_default="{}", nullable=False))
    op.add_column("customers", sa.Column("last_event_summary", sa.Text()))
    op.add_column("customers", sa.Column("last_event_at", sa.DateTime(timezone=True)))
    op.add_column("customers", sa.Column("search_doc", sa.Text(), server_default="", nullable=False))
    op.create_index(
        "ix_customers_search_doc", "customers", ["search_doc"], postgresql_using="gin", postgresql_ops={"search_doc": "gin_trgm_ops"}
    )
    op.create_index("ix_customers_owner", "customers", ["owner_id"])
    op.create_index("ix_customers_tags", "customers", ["tags"], postgresql_using="gin", postgresql_ops={"tags": "jsonb_path_ops"})
    op.create_index("ix_customers_fields", "customers", ["fields"], postgresql_using="gin", postgresql_ops={"fields": "jsonb_path_ops"})
    op.create_index("ix_duplicate_leads_workspace_created", "duplicate_leads", ["workspace", "created_at"])
    op.create_table(
        "field_definitions",
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("key", sa.String(63), nullable=False),
        sa.Column("definition", JSONB(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "key"),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.UUID(), primary_key=True),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("full_name", sa.String(300), nullable=False),
        sa.Column("role", sa.String(200)),
        sa.Column("department", JSONB(), nullable=False),
        sa.Column("phones", JSONB(), nullable=False),
        sa.Column("emails", JSONB(), nullable=False),
        sa.Column("legal_standing", sa.String(40)),
        sa.Column("id_type", sa.String(20)),
        sa.Column("id_number", sa.String(20)),
        sa.Column("gender", sa.String(20)),
        sa.Column("birth_date", sa.Date()),
        sa.Column("notes", sa.Text()),
        sa.Column("source_customer_id", sa.UUID()),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_index("ix_contacts_customer_id", "contacts", ["customer_id"])
    op.create_table(
        "relations",
        sa.Column("from_id", sa.UUID(), nullable=False),
        sa.Column("to_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("from_id", "to_id", "kind"),
    )
    op.create_index("ix_relations_to_id", "relations", ["to_id"])
    op.create_table(
        "merges",
        sa.Column("id", sa.UUID(), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("survivor_id", sa.UUID(), nullable=False),
        sa.Column("merged_ids", JSONB(), nullable=False),
        sa.Column("before", JSONB(), nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_merges_survivor_id", "merges", ["survivor_id"])
    op.create_table(
        "saved_filters",
        sa.Column("id", sa.UUID(), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("params", JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.UniqueConstraint("workspace", "owner", "name", name="uq_saved_filters_name"),
    )


def downgrade() -> None:
    op.drop_table("saved_filters")
    op.drop_table("merges")
    op.drop_table("relations")
    op.drop_table("contacts")
    op.drop_table("field_definitions")
    op.drop_index("ix_duplicate_leads_workspace_created", table_name="duplicate_leads")
    op.drop_index("ix_customers_fields", table_name="customers")
    op.drop_index("ix_customers_tags", table_name="customers")
    op.drop_index("ix_customers_owner", table_name="customers")
    op.drop_index("ix_customers_search_doc", table_name="customers")
    for column in (
        "search_doc",
        "last_event_at",
        "last_event_summary",
        "unknown_fields",
        "last_conversation_at",
        "merged_into",
        "avatar",
        "account_number",
        "birth_date",
    ):
        op.drop_column("customers", column)
