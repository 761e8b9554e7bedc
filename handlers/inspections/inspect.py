"""/inspect (巡检): the rounds due for me today and starting one; the routes (list, show, import a
file or a shipped template, the templates themselves). The area's declaration is at the end."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select

from handlers.core import audit, authz, files, ids, meters, org_settings, uploads
from handlers.core.adminkit import Joined
from handlers.core.area import Area
from handlers.core.conversation import DocumentIn
from handlers.core.flow import (
    Action,
    ConfirmStep,
    FileStep,
    Flow,
    Invalid,
    StepContext,
    Submitted,
    Upload,
    said,
)
from handlers.core.i18n import Label, Lines, Msg, Renderable, msg
from handlers.core.refusals import refused
from handlers.core.schedule import Schedule
from handlers.inspections import demo, rounds, slipping, walk
from handlers.inspections.routes import (
    FILE,
    TEMPLATES,
    WEEKDAYS,
    Kept,
    RouteProblems,
    check_name,
    checkpoint_name,
    keep,
    parse,
    resolve,
    route_name,
    template_names,
    version_of,
)
from storage.models import (
    InspectionCheckpoint,
    InspectionRound,
    InspectionRoute,
    InspectionSchedule,
    Person,
    Room,
)

MANAGE, VIEW = "inspect.manage", "inspect.view"


async def calendar(ctx: StepContext) -> Schedule:
    """The organisation's calendar as it stands now (its settings, else the environment's)."""
    return await org_settings.office(ctx.session, ctx.zone, ctx.calendar)


def refusal(ctx: StepContext, action: str) -> Msg:
    return refused(ctx, action, None, authz.refusal(action))


async def inspect_command(ctx: StepContext, args: str) -> Action:
    """/inspect, /inspect routes, /inspect route N, /inspect import [template], /inspect templates."""
    words = args.split()
    sub = words[0].lower() if words else ""
    if sub == "":
        return await due_today(ctx)
    if sub in ("routes", "route", "templates", "import") and not authz.allowed(
        ctx.person, MANAGE if sub == "import" else VIEW
    ):
        return said(refusal(ctx, MANAGE if sub == "import" else VIEW))
    if sub == "routes":
        return said(await route_list(ctx))
    if sub == "route" and len(words) == 2:
        return said(await route_shown(ctx, words[1]))
    if sub == "templates":
        return await templates(ctx)
    if sub == "import" and len(words) == 1:
        return Action(start=(IMPORT.name, {}))
    if sub == "import" and len(words) == 2:
        name = words[1].lower()
        if name not in template_names():
            return said(msg("inspect.error.no_template", name=name[:30], names=", ".join(template_names())))
        path = TEMPLATES / f"{name}.yml"
        try:
            route = await resolve(ctx.session, parse(path.name, path.read_bytes()), meter_known(ctx))
        except RouteProblems as problems:
            return said(problems.message())
        return said(await imported(ctx, await keep(ctx.session, route, ctx.person.id)))
    return said(msg("inspect.usage"))


# --- my rounds today ----------------------------------------------------------------------------------


async def due_today(ctx: StepContext) -> Action:
    today = ctx.now.astimezone(ctx.zone).date()
    await rounds.plan(ctx.session, await calendar(ctx), today)
    found = await rounds.waiting_for(ctx.session, ctx.person, today.isoformat())
    if not found:
        hint = msg("inspect.none_today.admin") if authz.allowed(ctx.person, VIEW) else ""
        return said(msg("inspect.none_today", hint=hint))
    lines: list[Renderable] = []
    buttons: list[tuple[tuple[Renderable, str], ...]] = []
    for round_, route in found:
        lines.append(await round_line(ctx, round_, route))
        if round_.status != "done" and round_.inspector_id in (None, ctx.person.id):
            label = msg(
                "inspect.button.continue" if round_.inspector_id == ctx.person.id else "inspect.button.start",
                route=route_name(route),
            )
            buttons.append(((label, f"ir:start:{round_.id}"),))
    return said(msg("inspect.today", count=len(found), lines=Lines(tuple(lines))), tuple(buttons))


async def round_line(ctx: StepContext, round_: InspectionRound, route: InspectionRoute) -> Msg:
    due = round_.due_at.astimezone(ctx.zone).strftime("%H:%M")
    if round_.status == "done":
        state: Renderable = msg("inspect.state.done", number=round_.number or "")
    elif round_.inspector_id is None:
        state = msg("inspect.state.late" if ctx.now > round_.due_at else "inspect.state.due")
    else:
        checkpoints = await rounds.checkpoints_of(ctx.session, round_)
        answered = {key for key in await rounds.results_of(ctx.session, round_.id) if key[1] >= 0}
        done, total = rounds.counts(checkpoints, answered)
        who = await ctx.session.get(Person, round_.inspector_id)
        state = msg("inspect.state.walking", who=who.display_name if who else "?", done=done, total=total)
    return msg("inspect.round_line", route=route_name(route), due=due, state=state)


async def start_pressed(ctx: StepContext, value: str) -> Action:
    """ir:start:<round>: judged anew on the server — whose round it is, and who has it now."""
    action, _, ref = value.partition(":")
    round_id = ids.parse_id(ref)
    round_ = await ctx.session.get(InspectionRound, round_id) if action == "start" and round_id is not None else None
    if round_ is None:
        return said(msg("inspect.error.unknown_round"))
    route = await ctx.session.get(InspectionRoute, round_.route_id)
    assert route is not None
    if round_.status == "done":
        return said(msg("inspect.error.done_already", route=route_name(route), number=round_.number or ""))
    if round_.inspector_id != ctx.person.id and not rounds.is_theirs(round_, ctx.person):
        return said(
            refused(
                ctx,
                action="inspect.round",
                record=str(round_.id),
                reason=msg("inspect.error.not_yours", route=route_name(route)),
            )
        )
    claimed = await rounds.claim(ctx.session, round_, ctx.person, ctx.now)
    if claimed.taken_by is not None:
        since = claimed.round.started_at.astimezone(ctx.zone).strftime("%H:%M") if claimed.round.started_at else ""
        return said(msg("inspect.error.taken", route=route_name(route), who=claimed.taken_by.display_name, since=since))
    return Action(start=(walk.ROUND.name, {"round": round_.id}))


# --- routes ---------------------------------------------------------------------------------------------


async def route_list(ctx: StepContext) -> Msg:
    routes = (
        await ctx.session.scalars(
            select(InspectionRoute).where(InspectionRoute.active.is_(True)).order_by(InspectionRoute.id)
        )
    ).all()
    if not routes:
        return msg("inspect.routes.none")
    lines = []
    for route in routes:
        version = await version_of(ctx.session, route.id, route.version)
        checkpoints = len(version.definition["checkpoints"]) if version else 0
        schedules = await schedules_of(ctx, route.id)
        lines.append(
            msg(
                "inspect.routes.line",
                id=route.id,
                code=route.code,
                name=route_name(route),
                checkpoints=checkpoints,
                schedules=Lines(tuple(schedules)) if schedules else msg("inspect.schedule.none"),
            )
        )
    return msg("inspect.routes", count=len(routes), lines=Lines(tuple(lines)))


async def schedules_of(ctx: StepContext, route_id: int) -> list[Renderable]:
    found = await ctx.session.scalars(
        select(InspectionSchedule)
        .where(InspectionSchedule.route_id == route_id, InspectionSchedule.active.is_(True))
        .order_by(InspectionSchedule.id)
    )
    shown: list[Renderable] = []
    for schedule in found.all():
        if schedule.every == "weekly":
            days = [msg(f"inspect.weekday.{WEEKDAYS[int(d)]}") for d in (schedule.weekdays or "").split(",") if d]
            when: Renderable = msg("inspect.schedule.weekly", days=Joined(tuple(days)))
        elif schedule.every == "monthly":
            when = msg("inspect.schedule.monthly", day=schedule.monthday or 1)
        else:
            when = msg("inspect.schedule.daily")
        if schedule.person_id is not None:
            person = await ctx.session.get(Person, schedule.person_id)
            who: Renderable = Label(person.display_name, person.display_name) if person else Label("?", "?")
        else:
            who = msg(f"repair.category.{schedule.specialty}")
        shown.append(msg("inspect.schedule.line", when=when, due=schedule.due, who=who))
    return shown


async def find_route(ctx: StepContext, ref: str) -> InspectionRoute | None:
    number = ids.parse_id(ref.lstrip("#"))
    if number is not None:
        return await ctx.session.get(InspectionRoute, number)
    return await ctx.session.scalar(select(InspectionRoute).where(func.upper(InspectionRoute.code) == ref.upper()))


async def route_shown(ctx: StepContext, ref: str) -> Msg:
    route = await find_route(ctx, ref)
    version = await version_of(ctx.session, route.id, route.version) if route else None
    if route is None or version is None:
        return msg("inspect.error.no_route", ref=ref[:32])
    stops = []
    codes = {
        c.code: c
        for c in (
            await ctx.session.scalars(select(InspectionCheckpoint).where(InspectionCheckpoint.route_id == route.id))
        ).all()
    }
    for number, checkpoint in enumerate(version.definition["checkpoints"], start=1):
        room = await ctx.session.get(Room, checkpoint["room_id"]) if checkpoint.get("room_id") else None
        where: Renderable = (
            Label(f"{room.building.name_zh} {room.code}", f"{room.building.name_en} {room.code}")
            if room
            else msg("inspect.no_room")
        )
        items = tuple(
            msg(
                "inspect.route.item",
                check=check_name(item),
                kind=msg(f"inspect.kind.{item['kind']}"),
                range=walk.reading_range(item) if item["kind"] == "reading" else "",
            )
            for item in checkpoint["items"]
        )
        known = codes.get(checkpoint["code"])
        stops.append(
            msg(
                "inspect.route.checkpoint",
                number=number,
                name=checkpoint_name(checkpoint),
                code=checkpoint["code"],
                link=f"ck_{known.id}" if known else "—",
                where=where,
                items=Lines(items),
            )
        )
    schedules = await schedules_of(ctx, route.id)
    return msg(
        "inspect.route",
        name=route_name(route),
        code=route.code,
        version=route.version,
        checkpoints=Lines(tuple(stops)),
        schedules=Lines(tuple(schedules)) if schedules else msg("inspect.schedule.none"),
    )


async def templates(ctx: StepContext) -> Action:
    sent = []
    for name in template_names():
        path = TEMPLATES / f"{name}.yml"
        sent.append(
            await files.keep(ctx.session, ctx.person.id, path.name, "application/x-yaml", path.read_bytes(), ctx.now)
        )
    return Action(say=((msg("inspect.templates", names=", ".join(template_names())), ()),), files=tuple(sent))


async def imported(ctx: StepContext, kept: Kept) -> Msg:
    audit.done(ctx, action=MANAGE, record=kept.route.code, version=kept.route.version)
    key = "inspect.import.done" if kept.changed else "inspect.import.unchanged"
    return msg(key, name=route_name(kept.route), code=kept.route.code, version=kept.route.version, id=kept.route.id)


def meter_known(ctx: StepContext) -> Callable[[str], Awaitable[bool]] | None:
    """Whether a meter a route names is one the energy area keeps (None: no meters are run)."""
    desk = meters.desk_among(ctx.areas)
    if desk is None:
        return None

    async def known(code: str) -> bool:
        return await desk.find(ctx, code) is not None

    return known


async def read_upload(ctx: StepContext, document: DocumentIn) -> dict[str, Any]:
    if not authz.allowed(ctx.person, MANAGE):
        raise Invalid(authz.refusal(MANAGE))
    try:
        route: dict[str, Any] = await uploads.read(document, FILE)
        return await resolve(ctx.session, route, meter_known(ctx))
    except uploads.FileProblem as problems:
        raise Invalid(problems.message()) from None


async def import_summary(ctx: StepContext) -> Msg:
    route = ctx.data["file"]
    items = sum(len(c["items"]) for c in route["checkpoints"])
    known = await ctx.session.scalar(select(InspectionRoute).where(InspectionRoute.code == route["code"]))
    return msg(
        "inspect.import.summary",
        name=Label(route["name"]["zh"], route["name"]["en"]),
        code=route["code"],
        checkpoints=len(route["checkpoints"]),
        items=items,
        schedules=len(route["schedules"]),
        replaces=msg("inspect.import.replaces", version=known.version) if known else "",
    )


async def submit_import(ctx: StepContext) -> Submitted:
    if not authz.allowed(ctx.person, MANAGE):
        return Submitted(refusal(ctx, MANAGE), "")
    kept = await keep(ctx.session, ctx.data["file"], ctx.person.id)
    return Submitted(await imported(ctx, kept), kept.route.code)


async def import_upload(ctx: StepContext, args: str, document: DocumentIn) -> Action:
    """A file captioned /inspect import: read it and ask to confirm, as the flow would."""
    if args.strip().lower() != "import":
        return said(msg("inspect.import.caption_hint"))
    if not authz.allowed(ctx.person, MANAGE):
        return said(refusal(ctx, MANAGE))
    try:
        return Action(start=(IMPORT.name, {"file": await read_upload(ctx, document)}))
    except Invalid as problem:
        return said(problem.reason)


IMPORT = Flow(
    "inspect_import",
    msg("inspect.import.title"),
    msg("inspect.import.title"),
    (
        FileStep("file", msg("inspect.import.ask_file"), read=read_upload, max_bytes=uploads.MB, parser=FILE),
        ConfirmStep("confirm", msg("inspect.import.ask_confirm"), summary=import_summary),
    ),
    submit_import,
    listed=False,
)


async def my_part(ctx: StepContext) -> list[Renderable]:
    """/my: today's rounds still to walk, and one under way."""
    today = ctx.now.astimezone(ctx.zone).date().isoformat()
    found = [(r, route) for r, route in await rounds.waiting_for(ctx.session, ctx.person, today) if r.status != "done"]
    if not found:
        return []
    lines = tuple([await round_line(ctx, r, route) for r, route in found])
    return [msg("inspect.my", count=len(found), lines=Lines(lines))]


AREA = Area(
    "inspections",
    flows=(walk.ROUND, IMPORT),
    commands={"inspect": inspect_command},
    buttons={"ir": start_pressed},
    links={"ck": walk.scanned},
    uploads={"inspect": Upload(import_upload, FILE, MANAGE)},
    # In the command menus of those who may see routes (technicians, logistics, managers); a person
    # named inspector of a route may still type it, and their reminder carries its Start button.
    privileged={"inspect": VIEW},
    mine=my_part,
    actions={
        MANAGE: authz.rule("admin", "logistics_admin"),
        VIEW: authz.rule("admin", "logistics_admin", "manager", "technician", "logistics_staff"),
    },
    reminders=slipping.RULES,
    keep_sends=(slipping.escalations_still_needed,),
    digest=(slipping.SECTION,),
    jobs=(slipping.PLAN,),
    keep_photos=(slipping.photos_kept,),
    photos=slipping.may_see_photo,
    demo=(demo.write,),
)
