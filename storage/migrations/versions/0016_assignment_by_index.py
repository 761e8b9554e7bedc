"""tickets.assigned_at, and indexes that let auto-assignment read a technician's load and last assignment
without walking their history

Revision ID: 0016_assignment_by_index
Revises: 0015_bookings
Create Date: 2026-12-04 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_assignment_by_index"
down_revision: str | None = "0015_bookings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
    # What the history says: the last time each ticket went to "assigned".
    op.execute(
        "UPDATE tickets SET assigned_at = (SELECT max(ticket_events.at) FROM ticket_events"
        " WHERE ticket_events.ticket_id = tickets.id AND ticket_events.to_status = 'assigned')"
        " WHERE assignee_id IS NOT NULL"
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_assignee_id")
        batch_op.create_index("ix_tickets_assignee_status", ["assignee_id", "status"], unique=False)
        batch_op.create_index("ix_tickets_assignee_assigned_at", ["assignee_id", "assigned_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_assignee_assigned_at")
        batch_op.drop_index("ix_tickets_assignee_status")
        batch_op.create_index("ix_tickets_assignee_id", ["assignee_id"], unique=False)
        batch_op.drop_column("assigned_at")
