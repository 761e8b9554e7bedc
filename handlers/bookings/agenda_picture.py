"""The day's agenda as a picture (/book today): one row per room across the open hours, each booking
a bar with its time and title, so a receptionist sees at a glance what is free. Drawn with
matplotlib off the event loop, after the delivery committed (files.Later), from plain rows read
before: it touches no database."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Slot:
    start: float  # hours from midnight, local
    end: float
    label: str  # "09:00–10:30 周例会"


@dataclass(frozen=True)
class RoomDay:
    room: str
    slots: Sequence[Slot]


def render_agenda(title: str, rooms: Sequence[RoomDay], opens: float, closes: float, free: str) -> bytes:
    """A PNG: the rooms down the side, the hours along the top, each booking a labelled bar."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from handlers.core.charts import PALETTE, font_families

    families = list(font_families())
    height = 1.2 + 0.7 * max(len(rooms), 1)
    figure = Figure(figsize=(10, height), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    for row, day in enumerate(rooms):
        y = len(rooms) - 1 - row
        for number, slot in enumerate(day.slots):
            colour = PALETTE[number % len(PALETTE)]
            axes.barh(y, slot.end - slot.start, left=slot.start, height=0.6, color=colour, alpha=0.85)
            axes.text(
                (slot.start + slot.end) / 2,
                y,
                slot.label,
                ha="center",
                va="center",
                fontsize=8,
                color="white",
                fontfamily=families,
                clip_on=True,
            )
        if not day.slots:
            axes.text(
                (opens + closes) / 2,
                y,
                free,
                ha="center",
                va="center",
                fontsize=9,
                color="#777777",
                fontfamily=families,
            )
    axes.set_yticks(range(len(rooms)), [day.room for day in reversed(rooms)], fontfamily=families)
    hours = range(int(opens), int(closes) + 1)
    axes.set_xticks(list(hours), [f"{hour:02d}:00" for hour in hours])
    axes.set_xlim(opens, closes)
    axes.set_ylim(-0.6, max(len(rooms), 1) - 0.4)
    axes.xaxis.tick_top()
    axes.grid(axis="x", alpha=0.3)
    axes.spines[["right", "bottom"]].set_visible(False)
    axes.set_title(title, fontfamily=families, fontsize=13, pad=24)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
