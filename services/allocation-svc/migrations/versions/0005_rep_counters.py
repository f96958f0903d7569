"""rep counters: each rep's open leads (`rep_loads`) and leads assigned per day (`rep_days`), kept
as counters in the transaction of every change instead of counted over the cards and the history
at each decision batch

- `rep_loads` follows the card projection by statement-level triggers on `cards` (insert, update,
  delete; transition tables: one aggregate upsert per statement, rows taken in (workspace, rep)
  order), so every write (assignment, transfer, wizard, owner/status/hidden changes from
  customer-svc, erasure) moves it, whatever path it takes. Backfilled from the cards.
- `rep_days` is counted by the service when it records owner changes (the day starts at midnight
  in the service's `day_timezone`, which the database does not know). Backfilled for the last two
  days from the history, with the zone of `ALLOCATION_DAY_TIMEZONE` (default Asia/Jerusalem).

Revision ID: 0005
Revises: 0004
"""

import os

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# domain.cards.OPEN_STATUSES (a migration does not import the service's code: it must not change).
OPEN = "('new', 'follow_up', 'follow_up_meeting')"
COUNTED = f"owner_id IS NOT NULL AND NOT hidden AND status IN {OPEN}"


def _upsert(select: str) -> str:
    return f"""
        INSERT INTO rep_loads AS l (workspace, rep_id, open_leads)
        SELECT workspace, owner_id, sum(d) FROM ({select}) AS deltas
        GROUP BY workspace, owner_id HAVING sum(d) <> 0 ORDER BY workspace, owner_id
        ON CONFLICT (workspace, rep_id) DO UPDATE SET open_leads = l.open_leads + excluded.open_leads;
    """


ADDED = f"SELECT workspace, owner_id, 1 AS d FROM new_rows WHERE {COUNTED}"
REMOVED = f"SELECT workspace, owner_id, -1 AS d FROM old_rows WHERE {COUNTED}"

FUNCTIONS = {
    "insert": _upsert(ADDED),
    "update": _upsert(f"{ADDED} UNION ALL {REMOVED}"),
    "delete": _upsert(REMOVED),
}
REFERENCING = {
    "insert": "NEW TABLE AS new_rows",
    "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "OLD TABLE AS old_rows",
}


def upgrade() -> None:
    op.create_table(
        "rep_loads",
        sa.Column("workspace", sa.String(100), primary_key=True),
        sa.Column("rep_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("open_leads", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "rep_days",
        sa.Column("rep_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("day_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("assigned", sa.Integer, nullable=False, server_default="0"),
    )
    # No card or history row changes between the backfill and the triggers taking over.
    op.execute("LOCK TABLE cards, assignment_history IN SHARE ROW EXCLUSIVE MODE")
    for op_name, body in FUNCTIONS.items():
        op.execute(f"CREATE FUNCTION rep_loads_on_{op_name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NULL; END $$")
        op.execute(
            f"CREATE TRIGGER rep_loads_{op_name} AFTER {op_name.upper()} ON cards REFERENCING {REFERENCING[op_name]}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION rep_loads_on_{op_name}()"
        )
    op.execute(
        f"INSERT INTO rep_loads (workspace, rep_id, open_leads) SELECT workspace, owner_id, count(*) FROM cards WHERE {COUNTED}"
        " GROUP BY workspace, owner_id"
    )
    zone = os.environ.get("ALLOCATION_DAY_TIMEZONE", "Asia/Jerusalem")
    op.execute(
        sa.text(
            "INSERT INTO rep_days (rep_id, day_start, assigned)"
            " SELECT owner_id, date_trunc('day', assigned_at AT TIME ZONE :zone) AT TIME ZONE :zone, count(*)"
            " FROM assignment_history WHERE assigned_at > now() - interval '2 days' GROUP BY 1, 2"
        ).bindparams(zone=zone)
    )


def downgrade() -> None:
    for op_name in FUNCTIONS:
        op.execute(f"DROP TRIGGER rep_loads_{op_name} ON cards")
        op.execute(f"DROP FUNCTION rep_loads_on_{op_name}()")
    op.drop_table("rep_days")
    op.drop_table("rep_loads")
