"""people: what the record scope needs of a card (owner, team members, folder); erased cards

Revision ID: 0004
Revises: 0003

`POST /v1/match` answers a member with the candidates their role reaches in full and the others
as existence only (id, number, owner): it needs each card's owner, team members and folder,
kept from customer-svc's snapshots and owner assignments. A card erased for good is remembered
(`erased_customers`) so that no later or replayed event indexes it again.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("people", sa.Column("owner_id", UUID(as_uuid=True)))
    op.add_column("people", sa.Column("team_member_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"))
    op.add_column("people", sa.Column("folder", sa.String(200)))
    op.create_table(
        "erased_customers",
        sa.Column("customer_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("erased_customers")
    for column in ("folder", "team_member_ids", "owner_id"):
        op.drop_column("people", column)
