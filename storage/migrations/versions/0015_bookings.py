"""bookings: meeting rooms and vehicles, their bookings and trips, never two at once on PostgreSQL by constraint

Revision ID: 0015_bookings
Revises: 0014_energy
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_bookings"
down_revision: str | None = "0014_energy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "booking_resources",
        sa.Column("id", Id, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("room_id", Id, nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("equipment", sa.String(length=100), nullable=False),
        sa.Column("departments", sa.String(length=500), nullable=False),
        sa.Column("needs_approval", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("plate", sa.String(length=20), nullable=True),
        sa.Column("model", sa.String(length=50), nullable=False),
        sa.Column("drivers", sa.String(length=500), nullable=False),
        sa.Column("closed_from", When, nullable=True),
        sa.Column("closed_until", When, nullable=True),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_booking_resources_room_id_rooms")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_resources")),
        sa.UniqueConstraint("room_id", name=op.f("uq_booking_resources_room_id")),
        sa.UniqueConstraint("plate", name=op.f("uq_booking_resources_plate")),
    )
    op.create_table(
        "bookings",
        sa.Column("id", Id, nullable=False),
        sa.Column("number", sa.String(length=20), nullable=True),
        sa.Column("resource_id", Id, nullable=False),
        sa.Column("booker_id", Id, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("starts_at", When, nullable=False),
        sa.Column("ends_at", When, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("checked_in_at", When, nullable=True),
        sa.Column("ended_at", When, nullable=True),
        sa.Column("ended_by", Id, nullable=True),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_bookings_ends_after_start")),
        sa.ForeignKeyConstraint(["booker_id"], ["people.id"], name=op.f("fk_bookings_booker_id_people")),
        sa.ForeignKeyConstraint(["ended_by"], ["people.id"], name=op.f("fk_bookings_ended_by_people")),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["booking_resources.id"], name=op.f("fk_bookings_resource_id_booking_resources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint("number", name=op.f("uq_bookings_number")),
    )
    op.create_index(op.f("ix_bookings_booker_id"), "bookings", ["booker_id"])
    op.create_index("ix_bookings_resource_time", "bookings", ["resource_id", "starts_at"])
    op.create_index("ix_bookings_starts_at", "bookings", ["starts_at"])
    op.create_table(
        "trips",
        sa.Column("id", Id, nullable=False),
        sa.Column("number", sa.String(length=20), nullable=True),
        sa.Column("requester_id", Id, nullable=False),
        sa.Column("department_id", Id, nullable=True),
        sa.Column("destination", sa.String(length=200), nullable=False),
        sa.Column("passengers", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("starts_at", When, nullable=False),
        sa.Column("ends_at", When, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("approver_id", Id, nullable=True),
        sa.Column("vehicle_id", Id, nullable=True),
        sa.Column("driver_id", Id, nullable=True),
        sa.Column("mileage_km", sa.Integer(), nullable=True),
        sa.Column("closed_at", When, nullable=True),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_trips_ends_after_start")),
        sa.ForeignKeyConstraint(["approver_id"], ["people.id"], name=op.f("fk_trips_approver_id_people")),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"], name=op.f("fk_trips_department_id_departments")),
        sa.ForeignKeyConstraint(["driver_id"], ["people.id"], name=op.f("fk_trips_driver_id_people")),
        sa.ForeignKeyConstraint(["requester_id"], ["people.id"], name=op.f("fk_trips_requester_id_people")),
        sa.ForeignKeyConstraint(
            ["vehicle_id"], ["booking_resources.id"], name=op.f("fk_trips_vehicle_id_booking_resources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trips")),
        sa.UniqueConstraint("number", name=op.f("uq_trips_number")),
    )
    op.create_index(op.f("ix_trips_requester_id"), "trips", ["requester_id"])
    op.create_index(op.f("ix_trips_starts_at"), "trips", ["starts_at"])
    op.create_index(op.f("ix_trips_status"), "trips", ["status"])
    if op.get_bind().dialect.name == "postgresql":
        # Two confirmed bookings of one resource never overlap, whatever the application checked:
        # an exclusion constraint over the half-open time range per resource (btree_gist gives GiST
        # the equality on the resource's id). SQLite has no such constraint: there the one
        # conditional INSERT under the write lock keeps the promise (handlers/bookings/ledger.py).
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_no_overlap EXCLUDE USING gist "
            "(resource_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) WHERE (status IN ('confirmed', 'pending'))"
        )
        # Nor is a vehicle, or a driver, on two assigned trips at once.
        for column in ("vehicle_id", "driver_id"):
            op.execute(
                f"ALTER TABLE trips ADD CONSTRAINT ex_trips_{column}_no_overlap EXCLUDE USING gist "
                f"({column} WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) WHERE (status = 'assigned')"
            )


def downgrade() -> None:
    op.drop_table("trips")
    op.drop_table("bookings")
    op.drop_table("booking_resources")
