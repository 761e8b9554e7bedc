"""The rules of surveys and suggestions, below the chat: definitions and their problems (with lines),
the keyed token and the sealed route, who may see results, launching to a whole organisation, the
satisfaction picture the digest shows, and `houqin survey import`."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from bot.cli import main
from handlers.core import keys
from handlers.core.flow import StepContext
from handlers.core.i18n import Msg
from handlers.surveys.campaigns import launch, on_button, remind
from handlers.surveys.definitions import DefinitionProblems, parse, template, template_names, valid_answer
from handlers.surveys.records import store_definition
from handlers.surveys.results import may_see, nps_of, satisfaction, scope_of
from storage.db import Database
from storage.models import (
    Department,
    OutboxMessage,
    Person,
    Survey,
    SurveyInvitation,
    SurveyResponse,
    Ticket,
)

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def problems_of(name: str, text: str) -> list[str]:
    with pytest.raises(DefinitionProblems) as raised:
        parse(name, text.encode())
    return [problem.render("en") for problem in raised.value.problems]


def test_every_template_is_a_valid_survey() -> None:
    assert template_names() == ["after_move", "canteen", "cleaning", "quarterly"]
    for name in template_names():
        found = template(name)
        assert found is not None and found.questions and found.title.zh and found.title.en
    assert template("quarterly").anonymous and not template("after_move").anonymous  # type: ignore[union-attr]


def test_a_wrong_definition_names_every_problem_with_its_line() -> None:
    text = """\
title: {zh: 问卷}
anonymous: maybe
colour: blue
questions:
  - type: stars
    text: {zh: 好吗, en: Good}
  - id: q2
    type: single
    text: {zh: 选一个, en: Pick one}
  - id: q2
    type: rating
    text: {zh: 打分, en: Rate}
    options:
      - {zh: 一, en: One}
      - {zh: 二, en: Two}
"""
    assert problems_of("bad.yml", text) == [
        "Line 1: title needs both languages, e.g. {zh: 中文, en: English}.",
        "Line 2: anonymous should be true or false.",
        "Line 3: unknown field colour (known: title, anonymous, questions).",
        "Line 5: there is no question type stars (types: rating, nps, single, multiple, text).",
        "Line 7: options is missing.",
        "Line 10: the id q2 is used twice.",
        "Line 13: a rating question takes no options.",
    ]


def test_json_is_read_with_lines_too() -> None:
    good = {
        "title": {"zh": "食堂", "en": "Canteen"},
        "anonymous": True,
        "questions": [{"type": "nps", "text": {"zh": "推荐吗？", "en": "Recommend?"}}],
    }
    found = parse("survey.json", json.dumps(good, ensure_ascii=False, indent=2).encode())
    assert found.anonymous and found.questions == [
        {"id": "q1", "type": "nps", "text": {"zh": "推荐吗？", "en": "Recommend?"}}
    ]
    assert problems_of("survey.json", '{\n  "title": {"zh": "x", "en": "y"},\n  "questions": [\n}') == [
        "Line 4, column 1: this is not valid YAML/JSON."
    ]
    assert problems_of("survey.yml", "- just\n- a list\n") == [
        "Line 1: the file should be a mapping of title, anonymous and questions."
    ]
    with pytest.raises(DefinitionProblems):
        parse("gbk.yml", "title: 问卷".encode("gbk"))


def test_answers_are_judged_against_their_question() -> None:
    rating = {"id": "a", "type": "rating"}
    nps = {"id": "b", "type": "nps"}
    many = {"id": "c", "type": "multiple", "options": [{"id": "x"}, {"id": "y"}]}
    words = {"id": "d", "type": "text", "required": False}
    assert valid_answer(rating, 5) and not valid_answer(rating, 6) and not valid_answer(rating, True)
    assert valid_answer(nps, 0) and not valid_answer(nps, 11) and not valid_answer(nps, "9")
    assert valid_answer(many, ["x", "y"]) and not valid_answer(many, ["x", "x"]) and not valid_answer(many, ["z"])
    assert valid_answer(words, None) and not valid_answer(words, "x" * 1001)
    assert nps_of([10, 9, 8, 3]) == 25 and nps_of([]) is None


def test_a_token_counts_once_without_naming_and_a_seal_opens_only_with_its_key() -> None:
    key, other = b"k" * 32, b"o" * 32
    assert keys.token(key, "survey", 1, "abc", 7) == keys.token(key, "survey", 1, "abc", 7)
    assert keys.token(key, "survey", 1, "abc", 7) != keys.token(key, "survey", 1, "abd", 7)
    assert keys.token(key, "survey", 1, "abc", 7) != keys.token(other, "survey", 1, "abc", 7)
    sealed = keys.seal(key, 42)
    assert keys.unseal(key, sealed) == 42 and keys.seal(key, 42) != sealed  # a fresh nonce each time
    assert keys.unseal(other, sealed) is None
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    assert keys.unseal(key, tampered) is None and keys.unseal(key, "not a seal") is None


async def test_the_server_key_is_made_once_and_kept(db: Database) -> None:
    async with db.unit_of_work() as session:
        first = await keys.server_key(session)
    async with db.unit_of_work() as session:
        assert await keys.server_key(session) == first and len(first) == 64
    keys.configure("x" * 40)
    try:
        async with db.unit_of_work() as session:
            assert await keys.server_key(session) == b"x" * 40
    finally:
        keys.configure(None)


async def context(db: Database, session: object, demo_key: str) -> StepContext:
    person = await session.scalar(select(Person).where(Person.demo_key == demo_key))  # type: ignore[attr-defined]
    return StepContext(session, person, "en", "web", NOW, ZONE, {})  # type: ignore[arg-type]


async def test_launching_to_everyone_writes_invitations_and_outbox_rows_only(db: Database) -> None:
    async with db.unit_of_work() as session:
        ctx = await context(db, session, "admin")
        survey = await store_definition(session, template("canteen"), ctx.person.id, NOW)  # type: ignore[arg-type]
        said = await launch(ctx, [str(survey.id), "everyone", "2026-12-10"])
        text = said.say[0][0].render("en")
        people = await session.scalar(select(func.count()).select_from(Person))
        assert f"launched to everyone: {people} people, {people} of them reachable now" in text
        assert "closes 2026-12-11 00:00" in text
        invitations = await session.scalar(select(func.count()).select_from(SurveyInvitation))
        queued = (await session.scalars(select(OutboxMessage))).all()
        assert invitations == people == len(queued) == 20
        assert all(m.sent_at is None and m.body["buttons"][0][0]["payload"] == f"sv:{survey.id}:answer" for m in queued)
        # An anonymous survey's reminder goes to everyone invited: who answered is not looked up.
        assert await remind(session, survey, NOW, ZONE) == 20
        # Launching twice, or to a department that does not exist, changes nothing.
        again = await launch(ctx, [str(survey.id), "everyone"])
        assert "was launched already" in again.say[0][0].render("en")
        other = await store_definition(session, template("cleaning"), ctx.person.id, NOW)  # type: ignore[arg-type]
        wrong = await launch(ctx, [str(other.id), "dept:nowhere"])
        assert "No such department: nowhere" in wrong.say[0][0].render("en")
        assert other.status == "draft"
        # One opening later: the invitation says from when; answering before then is refused.
        later = await launch(ctx, [str(other.id), "dept:hr", "7", "from:2026-12-01"])
        assert "Opens 2026-12-01 00:00, closes 2026-12-08 00:00." in later.say[0][0].render("en")
        invite = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc()))).first()
        assert invite is not None and invite.body["text"]["msg"] == "survey.invite_later"
        early = await on_button(await context(db, session, "zhang.wei"), f"{other.id}:answer")
        assert early.say[0][0].render("en") == (
            "The survey “Cleaning services survey” opens at 2026-12-01 00:00; please come back then."
        )
        # Someone who does not run surveys is refused.
        staff = await context(db, session, "wang.fang")
        refused = await launch(staff, [str(other.id), "everyone"])
        assert isinstance(refused.say[0][0], Msg) and refused.say[0][0].key == "survey.error.not_allowed"


async def test_managers_see_only_surveys_sent_to_their_own_department(db: Database) -> None:
    async with db.unit_of_work() as session:
        manager = await session.scalar(select(Person).where(Person.demo_key == "huang.li"))  # manager:finance
        staff = await session.scalar(select(Person).where(Person.demo_key == "wang.fang"))
        logistics = await session.scalar(select(Person).where(Person.demo_key == "lin.hua"))
        assert manager is not None and staff is not None and logistics is not None

        def survey(anonymous: bool, kind: str, *codes: str) -> Survey:
            return Survey(
                title_zh="a", title_en="a", anonymous=anonymous, audience={"kind": kind, "codes": list(codes)}
            )

        finance = survey(True, "departments", "finance")
        mixed, named_mixed = survey(True, "departments", "finance", "hr"), survey(False, "departments", "finance", "hr")
        everyone, named_everyone = survey(True, "everyone"), survey(False, "everyone")
        # Whole when it went to their department only; of a named one sent wider, their department's part.
        assert scope_of(manager, finance) == (True, None)
        assert scope_of(manager, named_mixed) == scope_of(manager, named_everyone) == (True, ["finance"])
        assert not may_see(manager, mixed) and not may_see(manager, everyone)
        assert not may_see(staff, finance) and not may_see(staff, named_everyone)
        assert all(scope_of(logistics, s) == (True, None) for s in (finance, mixed, everyone))  # a logistics admin


async def test_one_satisfaction_picture_from_surveys_and_repair_ratings(db: Database) -> None:
    week = datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)
    async with db.unit_of_work() as session:
        finance = await session.scalar(select(Department).where(Department.code == "finance"))
        wang = await session.scalar(select(Person).where(Person.demo_key == "wang.fang"))
        zhang = await session.scalar(select(Person).where(Person.demo_key == "zhang.wei"))
        assert finance is not None and wang is not None and zhang is not None
        questions = [{"id": "r", "type": "rating"}, {"id": "n", "type": "nps"}]
        named = Survey(title_zh="a", title_en="a", definition={"questions": questions}, status="open")
        anonymous = Survey(
            title_zh="b",
            title_en="b",
            anonymous=True,
            definition={"questions": questions},
            status="open",
            audience={"kind": "departments", "codes": ["finance"]},
        )
        session.add_all([named, anonymous])
        await session.flush()
        day = date(2026, 11, 25)
        session.add_all(
            [
                SurveyResponse(
                    survey_id=named.id, token="t1", person_id=wang.id, answers={"r": 5, "n": 10}, answered_on=day
                ),
                SurveyResponse(
                    survey_id=named.id, token="t2", person_id=zhang.id, answers={"r": 2, "n": 3}, answered_on=day
                ),
                SurveyResponse(survey_id=anonymous.id, token="t3", answers={"r": 4, "n": 9}, answered_on=day),
                # Outside the week: not counted.
                SurveyResponse(
                    survey_id=anonymous.id, token="t4", answers={"r": 1, "n": 0}, answered_on=date(2026, 11, 30)
                ),
            ]
        )
        for reporter, stars, resolved in (
            (wang, 3, week[0] + timedelta(days=1)),
            (zhang, 5, week[0] + timedelta(days=2)),
        ):
            session.add(
                Ticket(
                    reporter_id=reporter.id,
                    category="electrical",
                    description="灯坏了",
                    urgency="normal",
                    status="closed",
                    channel="web",
                    rating=stars,
                    resolved_at=resolved,
                )
            )
        await session.flush()
        everyone = await satisfaction(session, *week)
        assert everyone.survey_ratings == 3 and everyone.survey_average == pytest.approx(11 / 3)
        assert (everyone.ticket_ratings, everyone.ticket_average) == (2, 4.0)
        assert everyone.ratings == 5 and everyone.average == pytest.approx(19 / 5)
        assert (everyone.nps_answers, everyone.promoters, everyone.detractors, everyone.nps) == (3, 2, 1, 33)
        department = await satisfaction(session, *week, department_id=finance.id)
        assert (department.survey_ratings, department.survey_average) == (2, 4.5)  # 王芳's and the anonymous one
        assert (department.ticket_ratings, department.ticket_average) == (1, 3.0)
        assert department.nps == 100


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
def test_an_operator_imports_a_survey_and_a_wrong_file_imports_nothing(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer's .env
    monkeypatch.setenv("DATABASE_URL", database_url)
    source = Path(__file__).resolve().parent.parent / "handlers" / "surveys" / "templates" / "canteen.yml"
    assert main(["survey", "import", str(source)]) == 0
    assert "已导入问卷 #1「食堂满意度调查」（匿名，6 道题），尚未发布。" in capsys.readouterr().out
    (tmp_path / "wrong.yml").write_text("title: {zh: 问卷, en: Survey}\nquestions: []\n", encoding="utf-8")
    assert main(["survey", "import", str(tmp_path / "wrong.yml")]) == 1
    assert "第 2 行：问卷至少要有一道题。" in capsys.readouterr().err
    assert main(["survey", "import", str(tmp_path / "missing.yml")]) == 2

    async def count() -> int:
        database = Database(database_url)
        try:
            async with database.unit_of_work() as session:
                return int(await session.scalar(select(func.count()).select_from(Survey)) or 0)
        finally:
            await database.dispose()

    assert asyncio.run(count()) == 1


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_any_file_is_a_survey_or_a_list_of_problems_never_a_crash(text: str) -> None:
    for name in ("survey.yml", "survey.json"):
        try:
            found = parse(name, text.encode("utf-8", "surrogatepass"))
        except DefinitionProblems as problems:
            assert problems.problems and all(p.render("zh_CN") and p.render("en") for p in problems.problems)
        else:
            assert found.questions and all(valid_question(q) for q in found.questions)


@settings(max_examples=100, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "title": st.fixed_dictionaries(
                {"zh": st.text(min_size=1, max_size=5), "en": st.text(min_size=1, max_size=5)}
            ),
            "questions": st.lists(
                st.fixed_dictionaries(
                    {
                        "type": st.sampled_from(["rating", "nps", "single", "multiple", "text", "stars", 3]),
                        "text": st.fixed_dictionaries({"zh": st.text(max_size=5), "en": st.text(max_size=5)}),
                    },
                    optional={
                        "options": st.lists(
                            st.fixed_dictionaries({"zh": st.text(max_size=3), "en": st.text(max_size=3)}), max_size=12
                        ),
                        "required": st.booleans() | st.text(max_size=3),
                    },
                ),
                max_size=4,
            ),
        }
    )
)
def test_structured_nonsense_is_refused_line_by_line_or_read_whole(document: dict[str, object]) -> None:
    text = json.dumps(document, ensure_ascii=False, indent=2)
    try:
        found = parse("survey.json", text.encode())
    except DefinitionProblems as problems:
        lines = len(text.splitlines()) + 1  # YAML also breaks lines at NEL, LS and PS
        assert all(1 <= int(p.params.get("line", 1)) <= lines for p in problems.problems)
    else:
        assert all(valid_question(q) for q in found.questions)


def valid_question(question: dict[str, object]) -> bool:
    kind = question["type"]
    options = question.get("options")
    if kind in ("single", "multiple"):
        return isinstance(options, list) and 2 <= len(options) <= 10
    return options is None


async def test_two_processes_making_the_server_key_at_once_agree(db: Database) -> None:
    others = [Database(db.url), Database(db.url)]

    async def make(database: Database) -> bytes:
        async with database.unit_of_work() as session:
            return await keys.server_key(session)

    try:
        first, second = await asyncio.gather(*(make(d) for d in others))
    finally:
        for database in others:
            await database.dispose()
    assert first == second


async def test_a_manager_sees_only_their_departments_answers_of_a_named_survey_sent_to_everyone(
    db: Database,
) -> None:
    from handlers.surveys.results import results_command

    async with db.unit_of_work() as session:
        admin = await context(db, session, "admin")
        named = await store_definition(session, template("after_move"), admin.person.id, NOW)  # type: ignore[arg-type]
        anonymous = await store_definition(session, template("canteen"), admin.person.id, NOW)  # type: ignore[arg-type]
        await launch(admin, [str(named.id), "everyone"])
        await launch(admin, [str(anonymous.id), "everyone"])
        people = {p.demo_key: p for p in (await session.scalars(select(Person))).all()}
        for key, overall, words in (("wang.fang", 5, "财务处的新办公室很好"), ("zhang.wei", 1, "人事处还缺椅子")):
            session.add(
                SurveyResponse(
                    survey_id=named.id,
                    token=key,
                    person_id=people[key].id,
                    answers={"overall": overall, "ready": "all", "missing": words},
                    answered_on=NOW.date(),
                )
            )
        await session.flush()
        manager = await context(db, session, "huang.li")  # manages finance: 王芳, 李娜, 黄丽
        manager.locale = "zh_CN"
        seen = (await results_command(manager, str(named.id))).say[0][0].render("zh_CN")
        assert "只含你负责的部门：财务处" in seen and "回答：1/3 人（33%）" in seen
        assert "财务处的新办公室很好 —— 王芳" in seen and "人事处还缺椅子" not in seen
        refused = (await results_command(manager, str(anonymous.id))).say[0][0]
        assert isinstance(refused, Msg) and refused.key == "survey.error.not_allowed"
        whole = (await results_command(admin, str(named.id))).say[0][0].render("en")
        assert "Answered: 2 of 20 (10%)" in whole and "Only the departments" not in whole


async def test_housekeeping_closes_surveys_past_their_time_and_their_keys_go(db: Database) -> None:
    from handlers.core.housekeeping import tidy
    from handlers.surveys.campaigns import AREA
    from storage.models import SurveyDraft

    async with db.unit_of_work() as session:
        admin = await context(db, session, "admin")
        survey = await store_definition(session, template("canteen"), admin.person.id, NOW)  # type: ignore[arg-type]
        await launch(admin, [str(survey.id), "dept:finance", "3"])
        session.add(SurveyDraft(survey_id=survey.id, token="t", answers={"taste": 4}, question=1))
        await session.flush()
        await tidy(session, NOW + timedelta(days=2), [AREA])
        assert survey.status == "open" and survey.token_key is not None
        await tidy(session, NOW + timedelta(days=4), [AREA])
        assert survey.status == "closed" and survey.token_key is None
        assert await session.scalar(select(func.count()).select_from(SurveyDraft)) == 0


async def test_the_weekly_digest_shows_survey_satisfaction_and_the_suggestion_box(db: Database) -> None:
    from handlers.core.digest import Scope, Week, compute, text
    from handlers.surveys.campaigns import AREA
    from handlers.surveys.satisfaction import DIGEST, digest_figures
    from storage.models import Suggestion

    assert DIGEST in AREA.digest
    start, end = datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)
    week = Week(start, end, end)
    async with db.unit_of_work() as session:
        assert (await digest_figures(session, Scope(), week)).said == []  # a quiet week says nothing
        questions = [{"id": "r", "type": "rating"}, {"id": "n", "type": "nps"}]
        survey = Survey(title_zh="a", title_en="a", anonymous=True, definition={"questions": questions})
        session.add(survey)
        await session.flush()
        for token, rating, nps, day in (("a", 5, 10, 25), ("b", 3, 6, 26), ("c", 4, 9, 18)):
            session.add(
                SurveyResponse(
                    survey_id=survey.id, token=token, answers={"r": rating, "n": nps}, answered_on=date(2026, 11, day)
                )
            )
        session.add(
            Suggestion(topic="canteen", body="多一些素菜", status="received", created_at=start + timedelta(days=1))
        )
        session.add(
            Suggestion(
                topic="cleaning",
                body="走廊多擦几次",
                status="adopted",
                created_at=start - timedelta(days=20),
                updated_at=start + timedelta(days=2),
            )
        )
        await session.flush()
        lines = [part.render("en") for part in (await digest_figures(session, Scope(), week)).said]
        assert lines == [
            "📋 Surveys: average 4.0 (2 ratings) · NPS 0 (last 4 weeks: — → — → 100 → 0)",
            "💡 Suggestion box: 1 new this week, 1 adopted",
        ]
        digest = await compute(session, Scope(), start, end, end, AREA.digest)
        assert text(digest, UTC).render("zh_CN").split("\n")[1].startswith("📋 问卷：平均 4.0 分（2 个评分）")


async def test_notices_for_many_go_where_one_notice_would(db: Database) -> None:
    """notify_many (a launch to everyone) writes the rows notify would, person by person."""
    from handlers.core.i18n import Label
    from handlers.core.outbox import Notice, notify, notify_many
    from storage.models import ChannelAccount

    async with db.unit_of_work() as session:
        people = {p.demo_key: p for p in (await session.scalars(select(Person))).all()}
        wang, li, zhang = people["wang.fang"], people["li.na"], people["zhang.wei"]
        # 王芳 also uses Telegram, more recently; 李娜 blocked the bot everywhere; 张伟 has only the browser.
        session.add(
            ChannelAccount(person_id=wang.id, channel="telegram", external_id="77", address="77", last_seen_at=NOW)
        )
        for account in (await session.scalars(select(ChannelAccount).where(ChannelAccount.person_id == li.id))).all():
            account.unreachable_since = NOW
        await session.flush()
        notices = [
            Notice(p.id, Label("你好", "Hello"), (((Label("好", "OK"), "sv:1:answer"),),)) for p in (wang, li, zhang)
        ]
        assert await notify_many(session, notices, NOW) == 2
        many = [
            (m.person_id, m.channel, m.address, m.body) for m in (await session.scalars(select(OutboxMessage))).all()
        ]
        await session.execute(delete(OutboxMessage))
        one = [await notify(session, notice, NOW) for notice in notices]
        assert one == [True, False, True]
        await session.flush()
        each = [
            (m.person_id, m.channel, m.address, m.body) for m in (await session.scalars(select(OutboxMessage))).all()
        ]
        assert sorted(many, key=str) == sorted(each, key=str)
        assert {(person, channel) for person, channel, *_ in many} == {(wang.id, "telegram"), (zhang.id, "web")}
