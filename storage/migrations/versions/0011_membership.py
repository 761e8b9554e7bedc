"""membership: people may leave (left_at), join requests, codes anyone may use (an invitation without a
person, for a department), and answers to someone who is not a member (an outbox row without a person)

Revision ID: 0011_membership
Revises: 0010_email
Create Date: 2026-12-03 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_membership"
down_revision: str | None = "0010_email"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("left_at", UTC_DATETIME, nullable=True))
    with op.batch_alter_table("invitations") as batch:
        batch.alter_column("person_id", existing_type=Id, nullable=True)
        batch.add_column(sa.Column("department_id", Id, nullable=True))
        batch.create_foreign_key(
            op.f("fk_invitations_department_id_departments"), "departments", ["department_id"], ["id"]
        )
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("person_id", existing_type=Id, nullable=True)
    op.create_table(
        "join_requests",
        sa.Column("id", Id, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("platform_locale", sa.String(length=16), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_by", Id, nullable=True),
        sa.Column("decided_at", UTC_DATETIME, nullable=True),
        sa.Column("person_id", Id, nullable=True),
        sa.ForeignKeyConstraint(["decided_by"], ["people.id"], name=op.f("fk_join_requests_decided_by_people")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_join_requests_person_id_people"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_join_requests")),
    )
    op.create_index("ix_join_requests_account", "join_requests", ["channel", "external_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_join_requests_account", table_name="join_requests")
    op.drop_table("join_requests")
    op.execute("DELETE FROM outbox WHERE person_id IS NULL")
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("person_id", existing_type=Id, nullable=False)
    op.execute("DELETE FROM invitations WHERE person_id IS NULL")
    with op.batch_alter_table("invitations") as batch:
        batch.drop_constraint(op.f("fk_invitations_department_id_departments"), type_="foreignkey")
        batch.drop_column("department_id")
        batch.alter_column("person_id", existing_type=Id, nullable=False)
    with op.batch_alter_table("people") as batch:
        batch.drop_column("left_at")
