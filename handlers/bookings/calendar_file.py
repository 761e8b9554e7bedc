"""The .ics file sent with each confirmation, so the meeting lands in the booker's calendar."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

from icalendar import Calendar, Event

from storage.models import Booking

CONTENT_TYPE = "text/calendar"


def ics(bookings: Sequence[tuple[Booking, str]], domain: str = "houqin") -> bytes:
    """An event per booking, with its place (times in UTC, which every calendar reads without a
    VTIMEZONE); each UID is the booking's number, so a second file for the same booking updates the
    event instead of adding one."""
    calendar = Calendar()
    calendar.add("prodid", "-//Houqin//bookings//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    for booking, place in bookings:
        calendar.add_component(event_of(booking, place, domain))
    return bytes(calendar.to_ical())


def event_of(booking: Booking, place: str, domain: str) -> Event:
    event = Event()
    event.add("uid", f"{booking.number}@{domain}")
    event.add("dtstamp", booking.created_at.astimezone(UTC))
    event.add("dtstart", booking.starts_at.astimezone(UTC))
    event.add("dtend", booking.ends_at.astimezone(UTC))
    event.add("summary", booking.title)
    event.add("location", place)
    event.add("description", str(booking.number))
    return event
