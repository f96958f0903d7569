"""channel keys stored hashed (with rotation), records name their channel by id, actors

Revision ID: 0004
Revises: 0003

A data migration: every channel's key moves to `channel_keys` as its SHA-256 (the same hash
`intake_svc.domain.channel_keys.key_hash` computes) with its last four characters as a hint
(none for a key shorter than eight), and the plain column is dropped. Submissions and import
jobs named their channel by key; they now name it by id (filled in from the channel), so no
plain key is left in the database. There is no way back to plain keys: `downgrade` refuses.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("channels", sa.Column("created_by", sa.String(200)))
    op.add_column("channels", sa.Column("updated_by", sa.String(200)))
    op.create_index("ix_channels_workspace", "channels", ["workspace"])
    op.create_table(
        "channel_keys",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("channel_id", sa.UUID(), sa.ForeignKey("channels.id"), nullable=False),
        sa.Column("hint", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(200)),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_channel_keys_channel", "channel_keys", ["channel_id"])
    op.execute(
        """
        INSERT INTO channel_keys (hash, channel_id, hint, created_at)
        SELECT encode(sha256(convert_to(key, 'UTF8')), 'hex'), id,
               CASE WHEN char_length(key) >= 8 THEN right(key, 4) ELSE '' END, created_at
        FROM channels
        """
    )

    for table in ("submissions", "import_jobs"):
        op.add_column(table, sa.Column("channel_id", sa.UUID()))
        op.execute(f"UPDATE {table} AS t SET channel_id = c.id FROM channels AS c WHERE c.key = t.channel_key")  # noqa: S608
        # Channels are never deleted, so every row found its channel; a row that did not would
        # stop the migration here (NOT NULL) rather than lose which channel it came through.
        op.alter_column(table, "channel_id", nullable=False)
    op.drop_constraint("uq_submissions_idempotency", "submissions", type_="unique")
    op.create_unique_constraint("uq_submissions_idempotency", "submissions", ["channel_id", "idempotency_key"])
    op.drop_column("submissions", "channel_key")
    op.drop_column("import_jobs", "channel_key")
    op.drop_column("channels", "key")


def downgrade() -> None:
    raise NotImplementedError("channel keys are stored hashed since 0004; the plain keys cannot be restored")
