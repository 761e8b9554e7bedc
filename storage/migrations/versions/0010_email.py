"""email: people may have an e-mail address (optional, unique), which single sign-on matches

Revision ID: 0010_email
Revises: 0009_untraceable
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_email"
down_revision: str | None = "0009_untraceable"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch.create_unique_constraint(op.f("uq_people_email"), ["email"])


def downgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.drop_constraint(op.f("uq_people_email"), type_="unique")
        batch.drop_column("email")
