"""interactions, contact dates, merge moves

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
    op.add_column("entries", sa.Column("original_customer_id", sa.UUID(), nullable=True))
    op.add_column("entries", sa.Column("merge_id", sa.UUID(), nullable=True))
    op.create_index("ix_entries_merge_id", "entries", ["merge_id"], postgresql_where=sa.text("merge_id IS NOT NULL"))
    op.create_table(
        "interactions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("workspace", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("direction", sa.String(length=20), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("owner_id", sa.UUID(), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("original_customer_id", sa.UUID(), nullable=True),
        sa.Column("merge_id", sa.UUID(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_interactions_customer_id", "interactions", ["customer_id"])
    op.create_index(
        "ux_interactions_external_id",
        "interactions",
        ["workspace", "external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.create_index("ix_interactions_merge_id", "interactions", ["merge_id"], postgresql_where=sa.text("merge_id IS NOT NULL"))
    op.create_table(
        "contact_dates",
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("workspace", sa.String(length=100), nullable=False),
        sa.Column("last_contact_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_contact_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_table(
        "merges",
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("merge_id", sa.UUID(), nullable=False),
        sa.Column("survivor_id", sa.UUID(), nullable=False),
        sa.Column("workspace", sa.String(length=100), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_index("ix_merges_merge_id", "merges", ["merge_id"])
    op.create_table(
        "moves",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("merge_id", sa.UUID(), nullable=False),
        sa.Column("item", sa.String(length=20), nullable=False),
        sa.Column("item_id", sa.UUID(), nullable=False),
        sa.Column("from_customer_id", sa.UUID(), nullable=False),
        sa.Column("to_customer_id", sa.UUID(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("merge_id", "item", "item_id", name="uq_moves_merge_item"),
    )
    op.create_index("ix_moves_item", "moves", ["item", "item_id"])


def downgrade() -> None:
    op.drop_index("ix_moves_item", table_name="moves")
    op.drop_table("moves")
    op.drop_index("ix_merges_merge_id", table_name="merges")
    op.drop_table("merges")
    op.drop_table("contact_dates")
    op.drop_index("ix_interactions_merge_id", table_name="interactions")
    op.drop_index("ux_interactions_external_id", table_name="interactions")
    op.drop_index("ix_interactions_customer_id", table_name="interactions")
    op.drop_table("interactions")
    op.drop_index("ix_entries_merge_id", table_name="entries")
    op.drop_column("entries", "merge_id")
    op.drop_column("entries", "original_customer_id")
