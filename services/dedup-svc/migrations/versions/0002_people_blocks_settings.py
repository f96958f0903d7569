"""identity claims beside shared identifiers, the people index, blocking keys, workspace settings

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("identities", sa.Column("claimed", sa.Boolean(), server_default=sa.text("true"), nullable=False))
    op.drop_constraint("identities_pkey", "identities", type_="primary")
    op.create_primary_key("identities_pkey", "identities", ["workspace", "kind", "value", "customer_id"])
    op.create_index("ux_identities_claim", "identities", ["workspace", "kind", "value"], unique=True, postgresql_where=sa.text("claimed"))
    op.create_table(
        "people",
        sa.Column("customer_id", sa.UUID(), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("number", sa.Integer()),
        sa.Column("status", sa.String(40), server_default="new", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("display_name", sa.String(400), server_default="", nullable=False),
        sa.Column("given_name", sa.String(200), server_default="", nullable=False),
        sa.Column("surname", sa.String(200), server_default="", nullable=False),
        sa.Column("company", sa.String(200), server_default="", nullable=False),
        sa.Column("phones", sa.ARRAY(sa.String(32)), server_default="{}", nullable=False),
        sa.Column("emails", sa.ARRAY(sa.String(320)), server_default="{}", nullable=False),
        sa.Column("national_id", sa.String(9), server_default="", nullable=False),
        sa.Column("birth_date", sa.String(8), server_default="", nullable=False),
        sa.Column("street", sa.String(300), server_default="", nullable=False),
        sa.Column("city", sa.String(200), server_default="", nullable=False),
        sa.Column("postcode", sa.String(20), server_default="", nullable=False),
        sa.Column("account", sa.String(100), server_default="", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    # Cards indexed before this revision become people with what the index knew: their identifiers.
    op.execute(
        "INSERT INTO people (customer_id, workspace, phones, emails, national_id)"
        " SELECT customer_id, min(workspace), coalesce(array_agg(value) FILTER (WHERE kind = 'phone'), '{}'),"
        " coalesce(array_agg(value) FILTER (WHERE kind = 'email'), '{}'), coalesce(min(value) FILTER (WHERE kind = 'national_id'), '')"
        " FROM identities GROUP BY customer_id"
    )
    op.create_table(
        "block_keys",
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "key", "customer_id"),
    )
    op.create_index("ix_block_keys_customer_id", "block_keys", ["customer_id"])
    op.create_table(
        "workspace_settings",
        sa.Column("workspace", sa.String(100), primary_key=True),
        sa.Column("allow_duplicates", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("link_by_national_id", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("workspace_settings")
    op.drop_index("ix_block_keys_customer_id", table_name="block_keys")
    op.drop_table("block_keys")
    op.drop_table("people")
    op.drop_index("ux_identities_claim", table_name="identities")
    op.execute("DELETE FROM identities WHERE NOT claimed")
    op.drop_constraint("identities_pkey", "identities", type_="primary")
    op.create_primary_key("identities_pkey", "identities", ["workspace", "kind", "value"])
    op.drop_column("identities", "claimed")
