"""energy: meters of the buildings, their readings, and each building's head count

Revision ID: 0014_energy
Revises: 0013_inspections
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_energy"
down_revision: str | None = "0013_inspections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("buildings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("headcount", sa.Integer(), nullable=True))
    op.create_table(
        "meters",
        sa.Column("id", Id, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("multiplier", sa.Integer(), nullable=False),
        sa.Column("building_id", Id, nullable=False),
        sa.Column("floor", sa.String(length=16), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.CheckConstraint("multiplier > 0", name=op.f("ck_meters_multiplier_positive")),
        sa.ForeignKeyConstraint(["building_id"], ["buildings.id"], name=op.f("fk_meters_building_id_buildings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meters")),
        sa.UniqueConstraint("code", name=op.f("uq_meters_code")),
    )
    op.create_index(op.f("ix_meters_building_id"), "meters", ["building_id"])
    op.create_table(
        "meter_readings",
        sa.Column("id", Id, nullable=False),
        sa.Column("meter_id", Id, nullable=False),
        sa.Column("thousandths", sa.BigInteger(), nullable=False),
        sa.Column("read_at", When, nullable=False),
        sa.Column("reset", sa.Boolean(), nullable=False),
        sa.Column("person_id", Id, nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("round_id", Id, nullable=True),
        sa.CheckConstraint("thousandths >= 0", name=op.f("ck_meter_readings_thousandths_not_negative")),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meters.id"], name=op.f("fk_meter_readings_meter_id_meters"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_meter_readings_person_id_people"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["inspection_rounds.id"],
            name=op.f("fk_meter_readings_round_id_inspection_rounds"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_readings")),
    )
    op.create_index("ix_meter_readings_meter_id_read_at", "meter_readings", ["meter_id", "read_at"])
    op.create_index(op.f("ix_meter_readings_read_at"), "meter_readings", ["read_at"])


def downgrade() -> None:
    op.drop_table("meter_readings")
    op.drop_table("meters")
    with op.batch_alter_table("buildings", schema=None) as batch_op:
        batch_op.drop_column("headcount")
