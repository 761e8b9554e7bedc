"""The browser chat, driven like a person would: pick someone, type, press buttons, upload a photo."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import FilePayload, Locator, Page, Request, Route, expect
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from handlers.core.i18n import translate
from storage.models import ChannelAccount, DialogState, ProcessedDelivery, SupplyItem, Survey, Ticket
from tests.browser.conftest import LiveHouqin

pytestmark = pytest.mark.browser

TICKET_NUMBER = re.compile(r"R-\d{4}-\d{6}")
SCREENSHOT = Path("/tmp/houqin-web.png")
SCREENSHOT_NARROW = Path("/tmp/houqin-web-375.png")
DESCRIPTION = "会议室的吸顶灯不亮了，已经两天，开会只能开窗帘。"


def tiny_png(width: int = 96, height: int = 64) -> bytes:
    """A real PNG (a warm gradient) built by hand, so the test needs no image library or file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + b"".join(bytes((230, 120 + 100 * x // width, 40 + 150 * y // height)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PHOTO = tiny_png()


def png_file(name: str, content: bytes) -> FilePayload:
    return {"name": name, "mimeType": "image/png", "buffer": content}


# --- how a person uses the page ------------------------------------------------------------------


def open_as(page: Page, person: str) -> None:
    page.goto("/")
    picker = page.get_by_test_id("person-picker")
    expect(picker).to_be_enabled()
    picker.select_option(person)


def say(page: Page, text: str) -> None:
    page.get_by_test_id("message-input").fill(text)
    page.get_by_test_id("message-input").press("Enter")


def press(page: Page, label: str) -> None:
    # Only the newest bubble's buttons are enabled, so this finds the button of the question asked now.
    page.locator("[data-testid=reply-button]:enabled", has_text=label).click()


def bot(page: Page) -> Locator:
    return page.get_by_test_id("bot-message")


# --- reading what the server recorded ------------------------------------------------------------


@contextmanager
def database(server: LiveHouqin) -> Iterator[Session]:
    # A plain synchronous connection: the test thread has no event loop of its own to lend aiosqlite.
    engine: Engine = create_engine(f"sqlite:///{server.database_file}")
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def dialog_state(server: LiveHouqin, person: str) -> DialogState:
    with database(server) as session:
        account = session.scalars(
            select(ChannelAccount).where(ChannelAccount.channel == "web", ChannelAccount.external_id == person)
        ).one()
        return session.scalars(
            select(DialogState).where(DialogState.person_id == account.person_id, DialogState.channel == "web")
        ).one()


# --- the conversations ---------------------------------------------------------------------------


def test_wang_fang_reports_a_broken_light_with_a_photo(page: Page, houqin_server: LiveHouqin) -> None:
    open_as(page, "wang.fang")
    expect(page.get_by_test_id("send")).to_have_text("发送")  # the page speaks her language

    say(page, "/repair")
    expect(bot(page).last).to_contain_text("需要维修的是哪一类？")
    press(page, "电气照明")
    expect(bot(page).last).to_contain_text("在哪栋楼？")

    # The answered bubble is retired: every button disabled, hers marked, her choice noted under it.
    category = bot(page).filter(has_text="需要维修的是哪一类？")
    buttons = category.get_by_test_id("reply-button")
    expect(buttons).to_have_count(8)  # seven categories and Cancel
    for button in buttons.all():
        expect(button).to_be_disabled()
    expect(category.locator("[aria-pressed=true]")).to_have_text("电气照明")
    expect(category).to_contain_text("→ 电气照明")

    press(page, "行政楼")
    expect(bot(page).last).to_contain_text("在哪个房间？")
    press(page, "201 第一会议室")
    expect(bot(page).last).to_contain_text("请描述问题")
    say(page, DESCRIPTION)
    expect(page.get_by_test_id("my-message").last).to_have_text(DESCRIPTION)
    expect(bot(page).last).to_contain_text("可以发送最多 3 张照片")

    page.get_by_test_id("photo-input").set_input_files(files=[png_file("lamp.png", PHOTO)])
    expect(page.get_by_test_id("my-message").last.locator("img")).to_be_visible()
    expect(bot(page).last).to_contain_text("已收到 1 张照片")
    press(page, "完成")
    expect(bot(page).last).to_contain_text("有多紧急？")
    press(page, "紧急")
    expect(bot(page).last).to_contain_text("以上信息正确吗？")
    expect(bot(page).filter(has_text="请确认报修信息")).to_contain_text("照片：1 张")
    press(page, "✔ 提交")

    submitted = bot(page).filter(has_text=TICKET_NUMBER)
    expect(submitted).to_have_count(1)
    found = TICKET_NUMBER.search(submitted.inner_text())
    assert found is not None
    number = found.group(0)

    with database(houqin_server) as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert ticket.category == "electrical"
        assert ticket.urgency == "urgent"
        assert ticket.building is not None and ticket.building.code == "A"
        assert ticket.room is not None and ticket.room.code == "201"
        assert ticket.room.building_id == ticket.building.id
        assert ticket.description == DESCRIPTION
        assert ticket.reporter.display_name == "王芳"
        assert ticket.reporter.demo_key == "wang.fang"
        assert ticket.channel == "web"
        assert len(ticket.photos) == 1
        assert ticket.photos[0].content == PHOTO
        assert ticket.photos[0].content_type == "image/png"

    # Not committed: for a person to look at after a change to the page.
    expect(bot(page).last).to_be_in_viewport()
    page.screenshot(path=str(SCREENSHOT))
    page.set_viewport_size({"width": 375, "height": 812})
    expect(bot(page).last).to_be_in_viewport()
    page.screenshot(path=str(SCREENSHOT_NARROW))


def test_emma_switches_houqin_to_chinese(page: Page) -> None:
    open_as(page, "emma.clark")
    expect(page.get_by_test_id("send")).to_have_text("Send")
    expect(page.locator(".empty-hint")).to_contain_text("/start")

    say(page, "/start")
    welcome = translate("en", "menu.welcome", name="Emma Clark").splitlines()[0]
    expect(bot(page).last).to_contain_text(welcome)

    say(page, "/lang")
    expect(bot(page).last).to_contain_text(translate("en", "lang.ask"))
    press(page, "中文")

    expect(bot(page).filter(has_text=translate("zh_CN", "lang.set"))).to_have_count(1)
    expect(bot(page).last).to_contain_text(translate("zh_CN", "menu.what_next"))
    expect(bot(page).filter(has_text=translate("en", "lang.ask"))).to_contain_text("→ 中文")
    # She now speaks Chinese with Houqin, and the page follows as it would when she is picked.
    expect(page.get_by_test_id("send")).to_have_text("发送")


def test_a_stale_button_is_refused_and_changes_nothing(page: Page, houqin_server: LiveHouqin) -> None:
    open_as(page, "david.wu")
    say(page, "/repair")
    press(page, translate("en", "repair.category.electrical"))
    expect(bot(page).last).to_contain_text(translate("en", "repair.ask_building"))
    before = dialog_state(houqin_server, "david.wu")

    # Someone re-enables a retired button by hand and presses it: the server has the final word.
    category = bot(page).filter(has_text=translate("en", "repair.ask_category"))
    stale = category.get_by_test_id("reply-button").filter(has_text=translate("en", "repair.category.plumbing"))
    expect(stale).to_be_disabled()
    stale.evaluate("button => { button.disabled = false; }")
    stale.click()

    expired = translate("en", "dialog.error.stale_button")
    expect(bot(page).filter(has_text=expired)).to_have_count(1)
    expect(page.get_by_test_id("toast")).to_have_text(expired)
    expect(bot(page).last).to_contain_text(translate("en", "repair.ask_building"))
    # The old bubble still shows what was really chosen, and the dialog did not move.
    expect(category.locator("[aria-pressed=true]")).to_have_text(translate("en", "repair.category.electrical"))
    expect(stale).to_be_disabled()
    after = dialog_state(houqin_server, "david.wu")
    assert (after.flow, after.step, after.version) == (before.flow, before.step, before.version)
    assert after.data == before.data
    assert after.data["category"] == "electrical"


def test_a_lost_answer_is_retried_with_the_same_client_id(page: Page, houqin_server: LiveHouqin) -> None:
    sent: list[dict[str, Any]] = []

    def lose_the_first_answers(route: Route) -> None:
        body = route.request.post_data_json
        assert isinstance(body, dict)
        sent.append(body)
        if len(sent) == 1:
            route.fetch()  # the server handles it...
            route.abort("connectionreset")  # ...but the answer never reaches the page
        elif len(sent) == 2:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    open_as(page, "zhang.wei")
    page.route("**/api/web/messages", lose_the_first_answers)
    with page.expect_response("**/api/web/messages") as answered:
        say(page, "/start")
        expect(page.get_by_test_id("offline")).to_be_visible()
    expect(page.get_by_test_id("offline")).to_be_hidden()
    assert answered.value.json()["duplicate"] is True

    expect(bot(page)).to_have_count(1)
    expect(bot(page)).to_contain_text("你好，张伟")
    expect(page.get_by_test_id("my-message")).to_have_count(1)
    assert len(sent) == 3
    assert len({body["client_id"] for body in sent}) == 1
    with database(houqin_server) as session:
        handled = session.scalar(
            select(func.count())
            .select_from(ProcessedDelivery)
            .where(ProcessedDelivery.key == f"zhang.wei:{sent[0]['client_id']}")
        )
    assert handled == 1


def test_a_photo_over_10_mb_is_refused_on_the_page(page: Page) -> None:
    uploads: list[Request] = []
    page.on("request", lambda request: uploads.append(request) if "/api/web/photos" in request.url else None)
    open_as(page, "liu.yang")

    too_big = PHOTO + bytes(10 * 1024 * 1024)  # a valid PNG header, just over the limit
    page.get_by_test_id("photo-input").set_input_files(files=[png_file("huge.png", too_big)])

    expect(page.locator(".msg.system")).to_have_text(translate("zh_CN", "web.photo_too_big"))
    expect(page.get_by_test_id("my-message")).to_have_count(0)
    assert uploads == []


def test_each_person_keeps_their_own_history(page: Page) -> None:
    open_as(page, "chen.jing")
    say(page, "/start")
    expect(bot(page)).to_contain_text("你好，陈静")

    # Switching person sends nothing: it shows their (empty) conversation.
    page.get_by_test_id("person-picker").select_option("sun.qiang")
    expect(page.locator(".empty-hint")).to_contain_text("/start")
    expect(bot(page)).to_have_count(0)

    page.get_by_test_id("person-picker").select_option("chen.jing")
    expect(page.get_by_test_id("my-message")).to_have_text(["/start"])
    expect(bot(page)).to_have_count(1)
    expect(bot(page).get_by_test_id("reply-button").first).to_be_enabled()

    # The language toggle is the person's choice too (issue 16): the page and Houqin answer in English;
    # what Houqin said before stays as it was said.
    page.get_by_role("button", name="English").click()
    expect(page.get_by_test_id("send")).to_have_text("Send")
    expect(page.get_by_test_id("message-input")).to_have_attribute("placeholder", translate("en", "web.placeholder"))
    expect(page.get_by_test_id("person-picker").locator("option[value='chen.jing']")).to_have_text("陈静 · Staff")
    expect(bot(page).first).to_contain_text("你好，陈静")
    expect(bot(page).filter(has_text=translate("en", "lang.set"))).to_have_count(1)
    said = bot(page).count()

    # A reload keeps the person, their conversation and the page language (sessionStorage).
    page.reload()
    expect(page.get_by_test_id("person-picker")).to_have_value("chen.jing")
    expect(bot(page)).to_have_count(said)
    expect(page.get_by_test_id("send")).to_have_text("Send")


def test_the_logistics_admin_imports_the_catalogue_from_the_page(page: Page, houqin_server: LiveHouqin) -> None:
    open_as(page, "lin.hua")
    say(page, "/stock import")
    expect(bot(page).last).to_contain_text("请发送物品目录文件")
    catalogue = (
        "code,name_zh,name_en,category,unit,stock,reorder_at,monthly_limit,price\n"
        "TEA-JASMINE,茉莉花茶,Jasmine tea,cleaning,盒,12,3,,38\n"
    ).encode()
    spreadsheet: FilePayload = {"name": "catalogue.csv", "mimeType": "text/csv", "buffer": catalogue}
    page.get_by_test_id("photo-input").set_input_files(files=[spreadsheet])
    expect(page.get_by_test_id("my-message").last).to_have_text("📎 catalogue.csv")
    expect(bot(page).last).to_contain_text("导入", timeout=10_000)
    press(page, "✔ 提交")
    expect(bot(page).last).to_contain_text("导入完成")
    with database(houqin_server) as session:
        assert session.scalar(select(SupplyItem.name_zh).where(SupplyItem.code == "TEA-JASMINE")) == "茉莉花茶"


def test_an_admin_imports_a_survey_definition_from_the_page(page: Page, houqin_server: LiveHouqin) -> None:
    open_as(page, "admin")
    say(page, "/survey import")
    expect(bot(page).last).to_contain_text("请发送问卷定义文件")
    definition = (
        "title: {zh: 会议室满意度, en: Meeting rooms}\n"
        "questions:\n"
        "  - type: rating\n"
        "    text: {zh: 会议室好用吗, en: Are the meeting rooms good}\n"
    ).encode()
    yaml_file: FilePayload = {"name": "rooms.yml", "mimeType": "application/x-yaml", "buffer": definition}
    page.get_by_test_id("photo-input").set_input_files(files=[yaml_file])
    expect(page.get_by_test_id("my-message").last).to_have_text("📎 rooms.yml")
    expect(bot(page).last).to_contain_text("已导入问卷 #1「会议室满意度」（实名，1 道题），尚未发布。", timeout=10_000)
    with database(houqin_server) as session:
        assert session.scalar(select(Survey.title_en)) == "Meeting rooms"


def test_the_header_language_switch_is_the_persons_language_for_the_bot_too(page: Page) -> None:
    """One language choice for the person, the page and the bot (not only the page's own words)."""
    favicons: list[int] = []
    page.on("response", lambda response: favicons.append(response.status) if "favicon" in response.url else None)
    open_as(page, "sarah.lin")  # reads English; no other test here speaks as her (the server is shared)
    expect(page.get_by_test_id("send")).to_have_text("Send")
    page.locator("#ui-languages button[data-locale=zh_CN]").click()
    expect(page.get_by_test_id("send")).to_have_text("发送")
    expect(bot(page).filter(has_text=translate("zh_CN", "lang.set"))).to_have_count(1)
    say(page, "/help")
    expect(bot(page).filter(has_text="我能帮你办的事：")).to_have_count(1)
    assert favicons and all(status == 200 for status in favicons), "the page has its icon, no 404"


def test_an_invitation_stays_usable_while_the_person_says_other_things(page: Page) -> None:
    """A survey's 📝 button is not a question of the moment: typing something else does not retire it."""
    open_as(page, "admin")
    say(page, "/survey import canteen")
    imported = bot(page).filter(has_text="#").last
    expect(imported).to_contain_text("/survey launch")
    number = re.search(r"#(\d+)", imported.inner_text())
    assert number is not None
    say(page, f"/survey launch {number.group(1)} role:logistics_staff 3")
    expect(bot(page).last).to_contain_text("已发布给角色")

    page.get_by_test_id("person-picker").select_option("guo.tao")
    invitation = bot(page).filter(has_text="新问卷").last
    answer = invitation.get_by_test_id("reply-button")
    expect(answer).to_be_enabled()
    say(page, "/my")
    expect(bot(page).last).to_contain_text("待填问卷")
    expect(answer).to_be_enabled()
    answer.click()
    expect(bot(page).last).to_contain_text("食堂")


def test_a_chart_that_loads_after_its_words_is_scrolled_into_view(page: Page) -> None:
    open_as(page, "lin.hua")
    for _ in range(6):  # enough chat above it that the page must scroll
        say(page, "/help")
    say(page, "/stats week")
    chart = page.get_by_test_id("file-image").last
    expect(chart).to_be_visible()
    page.wait_for_function("[...document.querySelectorAll('img.chart')].every((img) => img.complete)")
    expect(chart).to_be_in_viewport()
