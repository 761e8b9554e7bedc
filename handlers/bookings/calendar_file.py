"""The .ics file sent with each confirmation, so the meeting lands in the booker's calendar."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING

from storage.models import Booking

if TYPE_CHECKING:
    # icalendar is loaded when a file is made, not at start-up (a twentieth of a second of it).
    from icalendar import Event

CONTENT_TYPE = "text/calendar"


def ics(bookings: Sequence[tuple[Booking, str]], domain: str = "houqin") -> bytes:
    """An event per booking, with its place (times in UTC, which every calendar reads without a
    VTIMEZONE); each UID is the booking's number, so a second file for the same booking updates the
    event instead of adding one."""
    from icalendar import Calendar

    calendar = Calendar()
    calendar.add("prodid", "-//Houqin//bookings//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    for booking, place in bookings:
        calendar.add_component(event_of(booking, place, domain))
    return bytes(calendar.to_ical())


def event_of(booking: Booking, place: str, domain: str) -> Event:
    from icalendar import Event

    event = Event()
    event.add("uid", f"{booking.number}@{domain}")
    event.add("dtstamp", booking.created_at.astimezone(UTC))
    event.add("dtstart", booking.starts_at.astimezone(UTC))
    event.add("dtend", booking.ends_at.astimezone(UTC))
    event.add("summary", booking.title)
    event.add("location", place)
    event.add("description", str(booking.number))
    return event
