"""Charts are real PNGs, and Chinese labels are drawn as Chinese glyphs, never as empty boxes."""

from __future__ import annotations

import io
import os
import warnings

import pytest
from PIL import Image

from handlers.core.charts import CJK_FAMILIES, Chart, Series, drawn, font_families, forget_drawn, render

WEEKS = ["10月26日", "11月2日", "11月9日", "11月16日"]


def a_week_in_chinese() -> Chart:
    return Chart(
        title="报修：本周与前几周",
        categories=WEEKS,
        series=[Series("新报修", [12, 9, 15, 11]), Series("已解决", [10, 11, 12, None])],
        y_label="张",
    )


def needs_a_chinese_font() -> None:
    if not any(family in CJK_FAMILIES for family in font_families()):
        if os.environ.get("CI"):
            pytest.fail("CI must have a Chinese font (make browser installs fonts-noto-cjk)")
        pytest.skip("no Chinese font on this machine (fonts-noto-cjk)")


def test_a_chart_is_a_png_of_a_readable_size() -> None:
    png = render(a_week_in_chinese())
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size[0] >= 800 and image.size[1] >= 450


def test_chinese_labels_have_their_glyphs() -> None:
    needs_a_chinese_font()
    forget_drawn()  # drawn here, not kept from another test
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        render(a_week_in_chinese())
    # matplotlib warns "Glyph … missing from font(s)" for every character it has to draw as a box.
    assert [str(w.message) for w in caught if "Glyph" in str(w.message)] == []


def test_the_same_figures_asked_again_are_not_drawn_again() -> None:
    """A digest previewed and then sent, or /stats asked twice in a week: one drawing."""
    first = render(a_week_in_chinese())
    assert render(a_week_in_chinese()) is first
    one_more = a_week_in_chinese()
    one_more.series[0].values[3] = 12  # type: ignore[index]
    changed = render(one_more)
    assert changed != first and changed.startswith(b"\x89PNG")
    in_english = Chart("Repairs", WEEKS, a_week_in_chinese().series, y_label="张")
    assert render(in_english) != first


def test_a_trend_is_drawn_as_a_line_with_gaps() -> None:
    chart = Chart("Rating, last 4 weeks", WEEKS, [Series("Average", [4.2, None, 4.5, 4.7])], kind="line", y_max=5)
    assert render(chart).startswith(b"\x89PNG\r\n\x1a\n")


def test_english_charts_need_no_chinese_font() -> None:
    chart = Chart("Requisitions by department", ["Finance", "Logistics"], [Series("This week", [3, 7])])
    forget_drawn()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = render(chart)
    assert Image.open(io.BytesIO(png)).format == "PNG"
    assert [str(w.message) for w in caught if "Glyph" in str(w.message)] == []


def test_counts_are_ticked_in_whole_numbers() -> None:
    """Two tickets opened and one resolved: the axis reads 0, 1, 2 — never 0.25 … 1.75."""
    few = Chart("每周报修", ["电气照明", "给排水"], [Series("新增", [2, 0]), Series("解决", [1, 0])], counts=True)
    ticks = [tick for tick in drawn(few).axes[0].get_yticks() if 0 <= tick <= 2]
    assert ticks == [0, 1, 2]
    same = Chart("每周报修", ["电气照明", "给排水"], [Series("新增", [2, 0]), Series("解决", [1, 0])])
    assert any(tick % 1 for tick in drawn(same).axes[0].get_yticks()), "what matplotlib would do by itself"


@pytest.mark.parametrize(("locale", "note"), [("zh_CN", "这段时间没有数据"), ("en", "Nothing in this period")])
def test_a_period_with_nothing_says_so_instead_of_an_empty_frame(locale: str, note: str) -> None:
    from handlers.core.i18n import translate

    quiet = Chart(
        "每周报修",
        WEEKS,
        [Series("新增", [0, 0, 0, 0]), Series("解决", [0, 0, None, 0])],
        counts=True,
        nothing=translate(locale, "chart.nothing"),
    )
    axes = drawn(quiet).axes[0]
    assert [text.get_text() for text in axes.texts] == [note]
    assert not axes.axison  # no frame, no 0.0 … 1.0 axis around nothing
    busy = Chart("每周报修", WEEKS, [Series("新增", [0, 1, 0, 0])], counts=True, nothing=note)
    assert len(drawn(busy).axes[0].texts) == 0 and drawn(busy).axes[0].axison
