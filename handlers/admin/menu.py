"""/admin: the menu of what this person may run, as buttons, with the typed shortcut beside each.

Each button (adm:<command>) runs its command with no arguments, or shows its usage when it needs
some; either way the command itself asks handlers/core/authz.py again, so a forged press gets nothing.
This module also gathers the admin area's commands, buttons, flows and uploads for bot/service.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from handlers.admin import audit_log as audit_command
from handlers.admin import broadcast, exports, members, monthly, org, roles, scorecards, stats
from handlers.admin import console as admin_console
from handlers.admin import settings as settings_command
from handlers.core import authz, membership, uploads
from handlers.core.area import AdminEntry, Area
from handlers.core.flow import Action, StepContext, Upload, said
from handlers.core.i18n import Lines, msg
from handlers.core.refusals import Refused

# The admin area's own entries; the other areas declare theirs (Area.admin), each in its place.
OWN: tuple[AdminEntry, ...] = (
    AdminEntry("role", "role.view", roles.role_command, False, place=10),
    AdminEntry("org", "org.view", org.org_command, True, place=20),
    AdminEntry("audit", "audit.view", audit_command.audit_command, True, place=30),
    AdminEntry("export", "export.tickets", exports.export_command, False, place=40),
    AdminEntry("stats", "stats.view", stats.stats_command, True, place=50),
    AdminEntry("broadcast", "broadcast.department", broadcast.broadcast_command, True, place=60),
    AdminEntry("settings", "settings.view", settings_command.settings_command, True, place=70),
    AdminEntry("scorecard", "scorecard.view", scorecards.scorecard_command, True, place=80),
)
# The commands this area answers (for the catalog test).
COMMANDS = ("admin", *(entry.command for entry in OWN))


def entries(areas: Sequence[Area]) -> dict[str, AdminEntry]:
    """/admin's entries in their order: every running area's (this one's among them)."""
    declared = sorted((entry for area in areas for entry in area.admin), key=lambda entry: entry.place)
    return {entry.command: entry for entry in declared}


def visible(ctx: StepContext) -> list[str]:
    return [name for name, entry in entries(ctx.areas).items() if authz.allowed_somewhere(ctx.person, entry.action)]


async def admin_command(ctx: StepContext, args: str) -> Action:
    try:
        authz.require(ctx, "admin.menu")
    except Refused as refused:
        return said(refused.reason)
    names = visible(ctx)
    # The export line names the kinds the running areas offer.
    kinds = "|".join(exports.kinds(ctx.areas))
    lines = tuple(msg(f"admin.menu.line.{name}", kinds=kinds) for name in names)
    buttons = tuple((msg(f"admin.menu.button.{name}"), f"adm:{name}") for name in names)
    rows = tuple(buttons[i : i + 2] for i in range(0, len(buttons), 2))
    return said(msg("admin.menu_text", lines=Lines(lines)), rows)


async def on_button(ctx: StepContext, value: str) -> Action:
    entry = entries(ctx.areas).get(value)
    if entry is None:
        return said(msg("dialog.error.forged_button"))
    action = entry.action
    if not authz.allowed_somewhere(ctx.person, action) and not authz.RULES[action].own:
        # A press of a button their menu never showed: refused (and audited) before anything runs.
        try:
            authz.require(ctx, action)
        except Refused as refused:
            return Action(say=((refused.reason, ()),), toast=refused.reason)
    if entry.on_its_own:
        return await entry.handler(ctx, "")
    # A usage may name the export kinds the running areas offer ({kinds}, as the menu's export line does).
    return said(msg(entry.usage or f"{value}.usage", kinds="|".join(exports.kinds(ctx.areas))))


AREA = Area(
    "admin",
    flows=(org.IMPORT, broadcast.FLOW),
    buttons={
        "adm": on_button,
        "aud": audit_command.on_button,
        "org": org.on_button,
        "sc": scorecards.on_button,
        membership.DECIDE: members.on_button,
    },
    commands={
        "admin": admin_command,
        **{entry.command: entry.handler for entry in OWN},
    },
    uploads={"org": Upload(org.import_upload, uploads.TABLE, "org.import")},
    links={"join": org.join},
    admin=OWN,
    jobs=(monthly.JOB,),
    privileged={
        "admin": "admin.menu",
        **{entry.command: entry.action for entry in OWN},
    },
    console=admin_console.PAGES,
)
