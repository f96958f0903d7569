"""record scope: each known card's access attributes (owner, team members, folder, deleted,
erased) kept from customer events, and the rep → team table the `team` scope reads (from
allocation-svc's RepChanged)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("owner_id", UUID(as_uuid=True)))
    op.add_column("customers", sa.Column("team_member_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"))
    op.add_column("customers", sa.Column("folder", sa.String(200)))
    op.add_column("customers", sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("customers", sa.Column("erased", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index("ix_customers_workspace_owner", "customers", ["workspace", "owner_id"])
    op.create_index("ix_customers_team_members", "customers", ["team_member_ids"], postgresql_using="gin")
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
    op.drop_index("ix_customers_team_members", "customers")
    op.drop_index("ix_customers_workspace_owner", "customers")
    for column in ("erased", "deleted", "folder", "team_member_ids", "owner_id"):
        op.drop_column("customers", column)
