"""workspace memberships (who may act in which workspace, with which role); actors are token subjects

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ROLES = "('administrator', 'manager', 'sales_rep', 'read_only')"


def upgrade() -> None:
    op.create_table(
        "memberships",
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("username", sa.String(255)),
        sa.Column("granted_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("workspace", "subject"),
        sa.CheckConstraint(f"role IN {ROLES}", name="ck_memberships_role"),
    )
    # Actors are token subjects now (up to 255 characters, as memberships name them).
    op.alter_column("saved_filters", "owner", type_=sa.String(255), existing_type=sa.String(200), existing_nullable=False)
    op.alter_column("merges", "actor", type_=sa.String(255), existing_type=sa.String(200), existing_nullable=True)


def downgrade() -> None:
    op.alter_column("merges", "actor", type_=sa.String(200), existing_type=sa.String(255), existing_nullable=True)
    op.alter_column("saved_filters", "owner", type_=sa.String(200), existing_type=sa.String(255), existing_nullable=False)
    op.drop_table("memberships")
