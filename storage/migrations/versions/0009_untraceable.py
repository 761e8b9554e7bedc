"""untraceable: anonymous rows in no telling order; what discreet turns left behind is forgotten

SQLite gives every ordinary table a hidden rowid counting up in insertion order: survey responses
and drafts (keyed by their token) become WITHOUT ROWID tables. On PostgreSQL the rows of anonymous
responses are rewritten in token order, so their physical order no longer follows the order people
answered in. Sent notices to anonymous suggesters, and the delivery records of discreet turns
(which named the person's dialog), are deleted: what they held is no longer kept (handlers/core/discreet.py).

Revision ID: 0009_untraceable
Revises: 0008_slack
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_untraceable"
down_revision: str | None = "0008_slack"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOKEN_TABLES = ("survey_responses", "survey_drafts")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in TOKEN_TABLES:
            with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_with_rowid": False}):
                pass
        op.execute("DELETE FROM outbox WHERE sent_at IS NOT NULL AND json_extract(body, '$.discreet') = 1")
        op.execute("DELETE FROM processed_deliveries WHERE json_extract(outcome, '$.discreet') = 1")
    else:
        op.execute("CREATE TEMPORARY TABLE kept_responses AS SELECT * FROM survey_responses")
        op.execute("DELETE FROM survey_responses")
        op.execute("INSERT INTO survey_responses SELECT * FROM kept_responses ORDER BY survey_id, token")
        op.execute("DROP TABLE kept_responses")
        op.execute("DELETE FROM outbox WHERE sent_at IS NOT NULL AND (body ->> 'discreet') = 'true'")
        op.execute("DELETE FROM processed_deliveries WHERE (outcome ->> 'discreet') = 'true'")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in TOKEN_TABLES:
            # Recreated from what reflection sees, which is an ordinary table with a rowid.
            with op.batch_alter_table(table, recreate="always"):
                pass
