"""The authorisation matrix: every privileged action × every role that lacks it × Telegram, Slack and
the browser chat → refused with a clear message in the person's language, audited, nothing changed.

Which roles lack an action comes from the table written out in tests/authz_table.py (which
tests/test_authz_table.py holds handlers/core/authz.RULES to); what is proved here is that each command
really asks it. A manager counts for their own department only, so department
actions are tried on another department than theirs (huang.li manages finance; the target is hr).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from bot.areas import AREAS
from handlers.core import authz
from handlers.core.authz import ROLES, RULES, refusal
from storage.db import Database
from tests.authz_table import MAY, for_own_department, may_anywhere
from tests.dialog.admin_people import (
    BY_ROLE,
    SlackSpeaker,
    Speaker,
    TelegramSpeaker,
    WebSpeaker,
    link_slack,
    link_telegram,
    person_id,
    refusal_counts,
    snapshot_in,
)
from tests.dialog.slack_person import SlackWorld
from tests.dialog.telegram_person import TelegramPerson
from tests.dialog.web_person import WebPerson

# Each action, and a command that would do it.
COMMANDS = {
    "admin.menu": "/admin",
    "role.view": "/role @wang.fang",
    "role.grant": "/role grant @wang.fang admin",
    "role.revoke": "/role revoke @admin admin",
    "org.view": "/org",
    "org.change": "/org dept add lab 实验室 Laboratory",
    "org.import": "/org import",
    "org.invite": "/org invite @wang.fang",
    "org.members": "/org approve 1 @wang.fang",
    "org.leave": "/org leave @wang.fang",
    "audit.view": "/audit",
    "scorecard.view": "/scorecard hr",
    "broadcast.all": "/broadcast all 明天停电",
    "broadcast.department": "/broadcast hr 明天停电",
    "settings.view": "/settings",
    "settings.change": "/settings sla_hours urgent=1,high=2,normal=3,low=4",
    "stock.manage": "/stock add PAPER-A4 5",
    "inspect.manage": "/inspect import fire_safety",
    "inspect.view": "/inspect routes",
    "export.tickets": "/export tickets",
    "export.requisitions": "/export requisitions xlsx",
    "export.stock": "/export stock",
    "export.suggestions": "/export suggestions",
    "export.audit": "/export audit csv",
    "stats.view": "/stats week",
    "meter.read": "/meter E-A-01 12345.6",
    "meter.manage": "/meter add E-A-09 电 A 行政楼三层电表",
    "energy.view": "/energy",
    "export.readings": "/export readings csv",
    "booking.manage": "/book room A 201 12 projector",
    "export.bookings": "/export bookings csv",
}
# Refused by the stores' own words (handlers/supplies/stock.py asks the table through may_keep_stock).
OWN_WORDS = {"stock.manage": "只有后勤主管和系统管理员可以管理库存。"}
# Actions on one ticket or requisition depend on that record too (whose technician, which step it is
# at), or belong to an area with its own refusal tests (surveys, suggestions, /delegate's own words): those
# areas' tests drive them.
ELSEWHERE = {
    "ticket.supervise",
    "requisition.second_approval",
    "requisition.fulfil",
    # the web console's requisitions page (tests/browser/test_console.py)
    "requisition.oversee",
    "requisition.delegate",
    "survey.run",
    "suggest.office",
    "booking.trip_approve",
}


# Buttons that act (admin menu entries, list pages): pressed by someone whose menu never showed them.
BUTTONS = {
    "role.view": "adm:role",
    "org.view": "org:1",
    "org.members": "jr:1:approve",
    "audit.view": "aud:1::",
    "export.tickets": "adm:export",
    "stats.view": "adm:stats",
    "broadcast.department": "adm:broadcast",
    "settings.view": "adm:settings",
    "scorecard.view": "sc:1:2026-10",
    "stock.manage": "adm:stock",
    "ticket.supervise": "adm:ticket",
    "survey.run": "adm:survey",
    "meter.manage": "mt:list:0",
}


def lacking(action: str) -> list[str]:
    roles = [role for role in ROLES if not may_anywhere(action, role) and role != "staff"]
    if for_own_department(action):
        # A manager may, for their own department only: asked as finance's manager about hr (last).
        roles = [*(role for role in roles if role != "manager"), "manager"]
    return ["staff", *roles]


def test_every_privileged_action_is_in_the_matrix() -> None:
    authz.declare(AREAS)  # as the running core has them: the core's actions and its areas'
    assert set(RULES) - ELSEWHERE == set(MAY) - ELSEWHERE == set(COMMANDS)


def without_any(action: str) -> list[str]:
    """Roles holding nothing of the action at all: a manager of another department holds some, and so
    does 林华 (logistics admin, also manager of logistics)."""
    managers = ("manager", "logistics_admin") if for_own_department(action) else ()
    return [role for role in lacking(action) if not may_anywhere(action, role) and role not in managers]


async def after_a_try(db: Database) -> tuple[dict[str, object], Counter[int]]:
    """What the admin tables hold, and who has been refused how often: one read per try."""
    async with db.unit_of_work(brief=True) as session:
        return await snapshot_in(session), await refusal_counts(session)


async def run_matrix(db: Database, speakers: dict[str, Speaker]) -> list[str]:
    failures: list[str] = []
    tries = [(action, role, command, False) for action, command in COMMANDS.items() for role in lacking(action)]
    tries += [(action, role, payload, True) for action, payload in BUTTONS.items() for role in without_any(action)]
    # What each try finds is what the one before it left: read once here, then after every try.
    people = {role: await person_id(db, handle) for role, handle in BY_ROLE.items()}
    state, refused = await after_a_try(db)
    for action, role, command, pressed in tries:
        speaker = speakers[role]
        answer = await (speaker.presses(command) if pressed else speaker.says(command))
        expected = (not pressed and OWN_WORDS.get(action)) or refusal(action).render("zh_CN")
        tried = f"{action} by {role} ({'press' if pressed else 'typed'})"
        if expected not in answer:
            failures.append(f"{tried}: answered {answer!r}")
        after, refused_after = await after_a_try(db)
        if after != state:
            failures.append(f"{tried}: something changed")
        if refused_after != refused + Counter({people[role]: 1}):
            failures.append(f"{tried}: not audited as refused, once and as theirs")
        state, refused = after, refused_after
    return failures


@pytest.mark.heavy
async def test_the_browser_chat_refuses_what_each_role_may_not_do(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    speakers: dict[str, Speaker] = {role: WebSpeaker(person(handle)) for role, handle in BY_ROLE.items()}
    assert await run_matrix(db, speakers) == []


@pytest.mark.heavy
async def test_telegram_refuses_what_each_role_may_not_do(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    speakers: dict[str, Speaker] = {
        role: TelegramSpeaker(await link_telegram(db, telegram_user, 7100 + index, handle))
        for index, (role, handle) in enumerate(BY_ROLE.items())
    }
    assert await run_matrix(db, speakers) == []


@pytest.mark.heavy
async def test_slack_refuses_what_each_role_may_not_do(db: Database, slack_office: SlackWorld) -> None:
    speakers: dict[str, Speaker] = {
        role: SlackSpeaker(await link_slack(slack_office, f"UROLE{index}", handle))
        for index, (role, handle) in enumerate(BY_ROLE.items())
    }
    assert await run_matrix(db, speakers) == []


async def test_the_refusal_names_the_action_and_who_may(person: Callable[[str], WebPerson]) -> None:
    said = await person("wang.fang").says("/role grant @wang.fang admin")
    assert said.texts == ["⛔ 你没有权限授予角色。只有系统管理员可以这样做。"]
    said = await person("emma.clark").says("/broadcast hr Power cut tomorrow")
    assert said.texts == ["⛔ You may not message a department: only Manager, Admin may do that."]
