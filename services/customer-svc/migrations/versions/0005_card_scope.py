"""record scope on cards: team members, soft deletion and erasure marks, the rep → team table

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("team_member_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"))
    op.add_column("customers", sa.Column("deleted_at", sa.DateTime(timezone=True)))
    op.add_column("customers", sa.Column("deleted_by", sa.String(255)))
    op.add_column("customers", sa.Column("erased_at", sa.DateTime(timezone=True)))
    op.create_index("ix_customers_team_members", "customers", ["team_member_ids"], postgresql_using="gin")
    # A rep's own cards, newest first (the `own` scope's list and count).
    op.create_index("ix_customers_workspace_owner_created", "customers", ["workspace", "owner_id", "created_at", "id"])
    op.create_table(
        "rep_teams",
        sa.Column("rep_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("team", sa.String(200)),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_rep_teams_workspace_team", "rep_teams", ["workspace", "team"])


def downgrade() -> None:
    op.drop_table("rep_teams")
    op.drop_index("ix_customers_workspace_owner_created", "customers")
    op.drop_index("ix_customers_team_members", "customers")
    for column in ("erased_at", "deleted_by", "deleted_at", "team_member_ids"):
        op.drop_column("customers", column)
