"""full allocation: rep capacity and away periods, rule options, history, queue, card projection, wizard runs, transfers

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


def _stamp() -> sa.Column:
    return sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)


def upgrade() -> None:
    op.add_column("reps", sa.Column("daily_capacity", sa.Integer()))
    op.add_column("reps", sa.Column("away", JSONB(), server_default="[]", nullable=False))
    op.add_column("reps", _stamp())
    op.add_column("rules", sa.Column("fixed_rep_id", sa.UUID()))
    op.add_column("rules", sa.Column("required_skills", JSONB(), server_default="[]", nullable=False))
    op.add_column("rules", sa.Column("active", sa.Boolean(), server_default="true", nullable=False))
    op.add_column("rules", _stamp())
    op.alter_column("assignments", "reason", type_=sa.String(2000))
    op.add_column("assignments", sa.Column("kind", sa.String(20), server_default="automatic", nullable=False))
    op.add_column("assignments", sa.Column("run_id", sa.UUID()))
    op.add_column("assignments", sa.Column("transfer_id", sa.UUID()))
    op.create_table(
        "assignment_history",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("previous_owner_id", sa.UUID()),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("rule_id", sa.UUID()),
        sa.Column("strategy", sa.String(30), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("run_id", sa.UUID()),
        sa.Column("transfer_id", sa.UUID()),
        sa.Column("actor", sa.String(200)),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.UUID()),
    )
    op.create_index("ix_assignment_history_customer_id", "assignment_history", ["customer_id"])
    op.create_index("ix_assignment_history_owner_at", "assignment_history", ["owner_id", "assigned_at"])
    op.execute(
        "INSERT INTO assignment_history (customer_id, workspace, owner_id, kind, rule_id, strategy, reason, assigned_at)"
        " SELECT customer_id, workspace, owner_id, 'automatic', rule_id, strategy, reason, assigned_at FROM assignments"
    )
    op.create_table(
        "queue",
        sa.Column("customer_id", sa.UUID(), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("rule_id", sa.UUID()),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tried_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_queue_workspace_queued", "queue", ["workspace", "queued_at"])
    op.create_table(
        "cards",
        sa.Column("id", sa.UUID(), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(400), server_default="", nullable=False),
        sa.Column("card_type", sa.String(30), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("folder", sa.String(200)),
        sa.Column("branch", sa.String(200)),
        sa.Column("tags", JSONB(), server_default="[]", nullable=False),
        sa.Column("fields", JSONB(), server_default="{}", nullable=False),
        sa.Column("channel_kind", sa.String(30)),
        sa.Column("channel_key", sa.String(200)),
        sa.Column("affiliate_name", sa.String(200)),
        sa.Column("affiliate_account", sa.String(100)),
        sa.Column("owner_id", sa.UUID()),
        sa.Column("hidden", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cards_workspace_created", "cards", ["workspace", "created_at"])
    op.create_index("ix_cards_owner", "cards", ["owner_id"])
    op.create_index("ix_cards_tags", "cards", ["tags"], postgresql_using="gin", postgresql_ops={"tags": "jsonb_path_ops"})
    op.create_table(
        "runs",
        sa.Column("id", sa.UUID(), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("request", JSONB(), nullable=False),
        sa.Column("per_rep", JSONB(), nullable=False),
        sa.Column("selected", sa.Integer(), nullable=False),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("applied", sa.Integer()),
        sa.Column("skipped", sa.Integer()),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True)),
        sa.Column("applied_by", sa.String(200)),
    )
    op.create_index("ix_runs_workspace_created", "runs", ["workspace", "created_at"])
    op.create_table(
        "run_items",
        sa.Column("run_id", sa.UUID(), primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("rep_id", sa.UUID(), nullable=False),
        sa.Column("previous_owner_id", sa.UUID()),
        sa.Column("outcome", sa.String(20)),
    )
    op.create_table(
        "transfers",
        sa.Column("id", sa.UUID(), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("from_rep_id", sa.UUID()),
        sa.Column("to_rep_id", sa.UUID(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("customer_ids", JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_transfers_workspace_created", "transfers", ["workspace", "created_at"])


def downgrade() -> None:
    for table in ("transfers", "run_items", "runs", "cards", "queue", "assignment_history"):
        op.drop_table(table)
    for column in ("transfer_id", "run_id", "kind"):
        op.drop_column("assignments", column)
    op.alter_column("assignments", "reason", type_=sa.String(500))
    for column in ("updated_at", "active", "required_skills", "fixed_rep_id"):
        op.drop_column("rules", column)
    for column in ("updated_at", "away", "daily_capacity"):
        op.drop_column("reps", column)
