"""/settings: admins read and change the organisation's settings (handlers/core/org_settings.py keeps
them, parses them and reads them for everyone else); every change is audited."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import authz, menus
from handlers.core.adminkit import local_time
from handlers.core.audit import done
from handlers.core.flow import Action, StepContext, said
from handlers.core.i18n import Lines, Renderable, msg
from handlers.core.org_settings import (
    DAYS,
    DEFAULT_DIGEST_TIME,
    DEFAULT_DIGEST_WEEKDAY,
    DEFAULT_POINTS,
    DEFAULT_WORKING_DAYS,
    KEYS,
    BadValue,
    stored,
)
from handlers.core.refusals import Refused
from handlers.core.rules import URGENCIES, RepairRules
from storage.models import OrgSetting, Person

# What else follows from a new value, in the same transaction: menus of those who chose no language
# are worded in the default one.
FOLLOWS: dict[str, Callable[[AsyncSession, datetime], Awaitable[object]]] = {
    "default_language": menus.everyones_may_have_changed,
}


async def change(ctx: StepContext, key: str, typed: str) -> str:
    """Validate and store one setting (audited); its normal form. BadValue says what is wrong."""
    authz.require(ctx, "settings.change", key)
    normal = KEYS[key].parse(typed)
    row = await ctx.session.get(OrgSetting, key)
    before = row.value if row is not None else None
    if row is None:
        ctx.session.add(OrgSetting(key=key, value=normal, changed_by=ctx.person.id, changed_at=ctx.now))
    else:
        row.value, row.changed_by, row.changed_at = normal, ctx.person.id, ctx.now
    await ctx.session.flush()
    if normal != before and (follows := FOLLOWS.get(key)) is not None:
        await follows(ctx.session, ctx.now)
    done(ctx, action="settings.change", record=key, before=before, after=normal)
    return normal


async def overview(ctx: StepContext, fallback: RepairRules) -> Renderable:
    rows = await stored(ctx.session)
    changers = [row.changed_by for row in rows.values() if row.changed_by is not None]
    names = {p.id: p.display_name for p in await ctx.session.scalars(select(Person).where(Person.id.in_(changers)))}
    defaults: dict[str, Renderable | str] = {
        "sla_hours": ",".join(f"{u}={int(fallback.sla[u].total_seconds() // 3600)}" for u in URGENCIES),
        "default_language": msg("settings.from_environment"),
        "digest_weekday": DAYS[DEFAULT_DIGEST_WEEKDAY],
        "digest_time": DEFAULT_DIGEST_TIME.strftime("%H:%M"),
        "quiet_hours": "off",
        "working_days": ",".join(DAYS[d] for d in sorted(DEFAULT_WORKING_DAYS)),
        "holidays": msg("settings.from_environment"),
        "makeup_days": msg("settings.from_environment"),
        "scorecard_points": ",".join(f"{k}={v:+d}" for k, v in DEFAULT_POINTS.items()),
    }
    today = ctx.now.astimezone(ctx.zone).date()
    lines: list[Renderable] = []
    for key in KEYS:
        row = rows.get(key)
        if row is None:
            lines.append(
                msg("settings.line_default", setting=key, value=defaults[key], name=msg(f"settings.key.{key}"))
            )
        else:
            lines.append(
                msg(
                    "settings.line_changed",
                    setting=key,
                    value=KEYS[key].show(row.value, today),
                    name=msg(f"settings.key.{key}"),
                    who=names.get(row.changed_by or 0, "—"),
                    at=local_time(row.changed_at, ctx.zone),
                )
            )
    return msg("settings.overview", lines=Lines(tuple(lines)))


async def settings_command(ctx: StepContext, args: str) -> Action:
    """/settings, /settings KEY VALUE (or /settings set KEY VALUE)."""
    text = args.strip()
    if text.lower().startswith("set "):
        text = text[4:].strip()
    key, _, typed = text.partition(" ")
    key = key.lower()
    try:
        if not key:
            authz.require(ctx, "settings.view")
            return said(await overview(ctx, ctx.rules))
        authz.require(ctx, "settings.change", key[:32])
        if key not in KEYS or not typed.strip():
            return said(msg("settings.usage", keys=", ".join(KEYS)))
        try:
            normal = await change(ctx, key, typed.strip())
        except BadValue as bad:
            return said(msg("settings.error.prefix", setting=key, problem=bad.reason))
    except Refused as refused:
        return said(refused.reason)
    return said(msg("settings.done", setting=key, name=msg(f"settings.key.{key}"), value=normal))
