"""the follow-up list's meetings (`GET /v1/meetings`): partial indexes on meetings by outcome
and time, per workspace and per owner

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MEETING = sa.text("kind = 'meeting'")


def upgrade() -> None:
    op.create_index("ix_interactions_meetings", "interactions", ["workspace", "outcome", "scheduled_at", "id"], postgresql_where=MEETING)
    op.create_index(
        "ix_interactions_owner_meetings", "interactions", ["owner_id", "outcome", "scheduled_at", "id"], postgresql_where=MEETING
    )


def downgrade() -> None:
    op.drop_index("ix_interactions_owner_meetings", "interactions")
    op.drop_index("ix_interactions_meetings", "interactions")
