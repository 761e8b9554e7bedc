"""inspection rounds: routes and their versions, checkpoints, schedules, rounds and their results

Revision ID: 0013_inspections
Revises: 0012_web_signin
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_inspections"
down_revision: str | None = "0012_web_signin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def fk(table: str, column: str, target: str, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "inspection_routes",
        sa.Column("id", Id, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_routes")),
        sa.UniqueConstraint("code", name=op.f("uq_inspection_routes_code")),
    )
    op.create_table(
        "inspection_route_versions",
        sa.Column("id", Id, nullable=False),
        sa.Column("route_id", Id, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_by", Id, nullable=True),
        sa.Column("created_at", When, nullable=False),
        fk("inspection_route_versions", "route_id", "inspection_routes", "CASCADE"),
        fk("inspection_route_versions", "created_by", "people"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_route_versions")),
        sa.UniqueConstraint("route_id", "version", name=op.f("uq_inspection_route_versions_route_id")),
    )
    op.create_index(op.f("ix_inspection_route_versions_route_id"), "inspection_route_versions", ["route_id"])
    op.create_table(
        "inspection_checkpoints",
        sa.Column("id", Id, nullable=False),
        sa.Column("route_id", Id, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("room_id", Id, nullable=True),
        sa.Column("name_zh", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        fk("inspection_checkpoints", "route_id", "inspection_routes", "CASCADE"),
        fk("inspection_checkpoints", "room_id", "rooms"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_checkpoints")),
        sa.UniqueConstraint("route_id", "code", name=op.f("uq_inspection_checkpoints_route_id")),
    )
    op.create_index(op.f("ix_inspection_checkpoints_route_id"), "inspection_checkpoints", ["route_id"])
    op.create_table(
        "inspection_schedules",
        sa.Column("id", Id, nullable=False),
        sa.Column("route_id", Id, nullable=False),
        sa.Column("every", sa.String(length=10), nullable=False),
        sa.Column("weekdays", sa.String(length=20), nullable=True),
        sa.Column("monthday", sa.Integer(), nullable=True),
        sa.Column("due", sa.String(length=5), nullable=False),
        sa.Column("person_id", Id, nullable=True),
        sa.Column("specialty", sa.String(length=20), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        fk("inspection_schedules", "route_id", "inspection_routes", "CASCADE"),
        fk("inspection_schedules", "person_id", "people"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_schedules")),
    )
    op.create_index(op.f("ix_inspection_schedules_route_id"), "inspection_schedules", ["route_id"])
    op.create_table(
        "inspection_rounds",
        sa.Column("id", Id, nullable=False),
        sa.Column("number", sa.String(length=20), nullable=True),
        sa.Column("route_id", Id, nullable=False),
        sa.Column("version_id", Id, nullable=False),
        sa.Column("schedule_id", Id, nullable=True),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("due_at", When, nullable=False),
        sa.Column("person_id", Id, nullable=True),
        sa.Column("specialty", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("inspector_id", Id, nullable=True),
        sa.Column("started_at", When, nullable=True),
        sa.Column("finished_at", When, nullable=True),
        sa.Column("created_at", When, nullable=False),
        fk("inspection_rounds", "route_id", "inspection_routes", "CASCADE"),
        fk("inspection_rounds", "version_id", "inspection_route_versions"),
        fk("inspection_rounds", "schedule_id", "inspection_schedules", "SET NULL"),
        fk("inspection_rounds", "person_id", "people"),
        fk("inspection_rounds", "inspector_id", "people"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_rounds")),
        sa.UniqueConstraint("number", name=op.f("uq_inspection_rounds_number")),
        sa.UniqueConstraint("schedule_id", "day", name=op.f("uq_inspection_rounds_schedule_id")),
    )
    for column in ("route_id", "day", "due_at", "person_id", "status", "inspector_id", "finished_at"):
        op.create_index(op.f(f"ix_inspection_rounds_{column}"), "inspection_rounds", [column])
    op.create_table(
        "inspection_results",
        sa.Column("id", Id, nullable=False),
        sa.Column("round_id", Id, nullable=False),
        sa.Column("checkpoint", sa.String(length=32), nullable=False),
        sa.Column("item", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("photo_id", Id, nullable=True),
        sa.Column("ticket_id", Id, nullable=True),
        sa.Column("opened_ticket", sa.Boolean(), nullable=False),
        sa.Column("person_id", Id, nullable=False),
        sa.Column("at", When, nullable=False),
        fk("inspection_results", "round_id", "inspection_rounds", "CASCADE"),
        fk("inspection_results", "photo_id", "photos", "SET NULL"),
        fk("inspection_results", "ticket_id", "tickets", "SET NULL"),
        fk("inspection_results", "person_id", "people"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_results")),
        sa.UniqueConstraint("round_id", "checkpoint", "item", name=op.f("uq_inspection_results_round_id")),
    )
    for column in ("round_id", "ticket_id", "at"):
        op.create_index(op.f(f"ix_inspection_results_{column}"), "inspection_results", [column])


def downgrade() -> None:
    for table in (
        "inspection_results",
        "inspection_rounds",
        "inspection_schedules",
        "inspection_checkpoints",
        "inspection_route_versions",
        "inspection_routes",
    ):
        op.drop_table(table)
