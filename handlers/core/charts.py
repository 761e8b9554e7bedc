"""Charts as PNG bytes for digests, /stats and survey results, with Chinese labels as glyphs.

Drawn with matplotlib's object API on the Agg backend (no screen, no pyplot global state), imported
only when a chart is drawn so start-up stays quick. Labels come already rendered in the reader's
language. Drawing takes a few tenths of a second of CPU: call it through ``asyncio.to_thread`` from
async code (``draw`` does) so the bot keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import glob
import io
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    # matplotlib is imported when a chart is drawn, not with the module: most processes draw none.
    from matplotlib.figure import Figure

# Preferred first; matplotlib falls back along the list glyph by glyph (Latin from DejaVu Sans).
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "WenQuanYi Zen Hei", "Droid Sans Fallback")
FONT_GLOBS = ("/usr/share/fonts/**/NotoSansCJK*.tt[cf]", "/usr/share/fonts/**/wqy-zenhei*.tt[cf]")
# Colours that stay apart for the colour-blind (Okabe–Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]  # None: no figure for that category (drawn as a gap)


@dataclass(frozen=True)
class Chart:
    title: str
    categories: Sequence[str]  # along the x axis: weeks, departments, answers
    series: Sequence[Series]
    kind: Literal["bar", "line"] = "bar"
    y_label: str = ""
    # A fixed top for the y axis (5 for ratings, 100 for percentages); else matplotlib's choice.
    y_max: float | None = None
    # Whole numbers (tickets, requisitions): ticks at integers only, never 0.25 … 1.75.
    counts: bool = False
    # What it says, in the reader's language, when it has no figure at all: an empty frame tells nothing.
    nothing: str = ""

    @property
    def empty(self) -> bool:
        return not any(value for series in self.series for value in series.values)


@cache
def font_families() -> tuple[str, ...]:
    """The CJK family to draw with, ahead of matplotlib's default; found once per process."""
    from matplotlib import font_manager

    def known() -> set[str]:
        return {font.name for font in font_manager.fontManager.ttflist}

    if not any(family in known() for family in CJK_FAMILIES):
        # matplotlib's font cache may predate fonts installed later: look on disk once.
        for pattern in FONT_GLOBS:
            for path in sorted(glob.glob(pattern, recursive=True)):
                font_manager.fontManager.addfont(path)
    available = known()
    return (*(family for family in CJK_FAMILIES if family in available), "DejaVu Sans")


# The last few charts drawn, by what they show: the same figures asked again (a digest previewed
# then sent, caught up after a restart, /stats asked by two admins in one week) are not drawn again.
# A chart is 30-60 KB; drawing one takes about 60 ms of CPU.
KEPT_CHARTS = 16
_kept: OrderedDict[str, bytes] = OrderedDict()
_keeping = threading.Lock()  # render runs on worker threads (draw)


def render(chart: Chart) -> bytes:
    """The chart as a PNG."""
    shown = repr(chart)  # every field, values and labels included: equal only for the same picture
    with _keeping:
        if shown in _kept:
            _kept.move_to_end(shown)
            return _kept[shown]
    buffer = io.BytesIO()
    drawn(chart).savefig(buffer, format="png")
    png = buffer.getvalue()
    with _keeping:
        _kept[shown] = png
        while len(_kept) > KEPT_CHARTS:
            _kept.popitem(last=False)
    return png


def forget_drawn() -> None:
    """Draw every chart afresh from now on (for a check of what drawing itself says)."""
    with _keeping:
        _kept.clear()


def drawn(chart: Chart) -> Figure:
    """The chart as a matplotlib figure (render saves it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    families = list(font_families())
    figure = Figure(figsize=(8, 4.5), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    if chart.empty and chart.nothing:
        axes.set_axis_off()
        axes.set_title(chart.title, fontfamily=families, fontsize=13)
        axes.text(0.5, 0.5, chart.nothing, ha="center", va="center", fontsize=14, color="#555555", fontfamily=families)
        return figure
    positions = list(range(len(chart.categories)))
    count = max(len(chart.series), 1)
    width = 0.8 / count
    for index, series in enumerate(chart.series):
        colour = PALETTE[index % len(PALETTE)]
        if chart.kind == "bar":
            offset = (index - (count - 1) / 2) * width
            heights = [value if value is not None else 0 for value in series.values]
            axes.bar([p + offset for p in positions], heights, width=width, label=series.label, color=colour)
        else:
            values = [value if value is not None else float("nan") for value in series.values]
            axes.plot(positions, values, marker="o", label=series.label, color=colour, linewidth=2)
    axes.set_xticks(positions, list(chart.categories), fontfamily=families)
    axes.set_title(chart.title, fontfamily=families, fontsize=13)
    if chart.y_label:
        axes.set_ylabel(chart.y_label, fontfamily=families)
    if chart.y_max is not None:
        axes.set_ylim(0, chart.y_max)
    if chart.counts:
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(axis="y", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    if len(chart.series) > 1:
        axes.legend(prop={"family": families}, frameon=False)
    if max((len(c) for c in chart.categories), default=0) > 8:
        for label in axes.get_xticklabels():
            label.set_rotation(30)
            label.set_horizontalalignment("right")
    return figure


async def draw(chart: Chart) -> bytes:
    """`render` off the event loop."""
    return await asyncio.to_thread(render, chart)
