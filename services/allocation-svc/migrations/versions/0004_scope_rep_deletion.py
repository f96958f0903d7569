"""record scope and rep deletion: the cards' team members, reps deleted softly (kept for the
history of the cards they owned), the rep → team table the `team` scope reads (filled from reps)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cards", sa.Column("team_member_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"))
    op.create_index("ix_cards_team_members", "cards", ["team_member_ids"], postgresql_using="gin")
    op.add_column("reps", sa.Column("deleted_at", sa.DateTime(timezone=True)))
    op.create_table(
        "rep_teams",
        sa.Column("rep_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("team", sa.String(200)),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_rep_teams_workspace_team", "rep_teams", ["workspace", "team"])
    op.execute("INSERT INTO rep_teams (rep_id, workspace, team, deleted) SELECT id, workspace, team, false FROM reps")


def downgrade() -> None:
    op.drop_table("rep_teams")
    op.drop_column("reps", "deleted_at")
    op.drop_index("ix_cards_team_members", "cards")
    op.drop_column("cards", "team_member_ids")
