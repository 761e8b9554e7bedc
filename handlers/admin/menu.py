"""/admin: the menu of what this person may run, as buttons, with the typed shortcut beside each.

Each button (adm:<command>) runs its command with no arguments, or shows its usage when it needs
some; either way the command itself asks handlers/core/authz.py again, so a forged press gets nothing.
This module also gathers the admin area's commands, buttons, flows and uploads for bot/service.py.
"""

from __future__ import annotations

from handlers.admin import audit_log as audit_command
from handlers.admin import broadcast, exports, org, roles, scorecards, stats
from handlers.admin import settings as settings_command
from handlers.core import authz, uploads
from handlers.core.area import Area
from handlers.core.flow import Action, Handler, StepContext, Upload, said
from handlers.core.i18n import Lines, msg
from handlers.core.refusals import Refused
from handlers.repairs.actions import ticket_command
from handlers.supplies.stock import stock_command
from handlers.surveys.campaigns import survey_command

# command → (the action that shows it in the menu, its handler, whether it does something on its own)
ENTRIES: dict[str, tuple[str, Handler, bool]] = {
    "role": ("role.view", roles.role_command, False),
    "org": ("org.view", org.org_command, True),
    "audit": ("audit.view", audit_command.audit_command, True),
    "export": ("export.tickets", exports.export_command, False),
    "stats": ("stats.view", stats.stats_command, True),
    "broadcast": ("broadcast.department", broadcast.broadcast_command, True),
    "settings": ("settings.view", settings_command.settings_command, True),
    "scorecard": ("scorecard.view", scorecards.scorecard_command, True),
    "stock": ("stock.manage", stock_command, True),
    "ticket": ("ticket.supervise", ticket_command, False),
    "survey": ("survey.run", survey_command, True),
}
# Commands answered by other areas; the menu only points at them.
ELSEWHERE = ("stock", "ticket", "survey")
# Usage shown by a button whose command needs words, when it is not `<command>.usage`.
USAGE = {"ticket": "ticket.supervise_usage"}


# What the menu lists, in order, and the commands this area answers (for the catalog test).
MENU = tuple(ENTRIES)
COMMANDS = ("admin", *(name for name in ENTRIES if name not in ELSEWHERE))


def visible(ctx: StepContext) -> list[str]:
    return [name for name, (action, _, _) in ENTRIES.items() if authz.allowed_somewhere(ctx.person, action)]


async def admin_command(ctx: StepContext, args: str) -> Action:
    try:
        authz.require(ctx, "admin.menu")
    except Refused as refused:
        return said(refused.reason)
    names = visible(ctx)
    lines = tuple(msg(f"admin.menu.line.{name}") for name in names)
    buttons = tuple((msg(f"admin.menu.button.{name}"), f"adm:{name}") for name in names)
    rows = tuple(buttons[i : i + 2] for i in range(0, len(buttons), 2))
    return said(msg("admin.menu_text", lines=Lines(lines)), rows)


async def on_button(ctx: StepContext, value: str) -> Action:
    if value not in ENTRIES:
        return said(msg("dialog.error.forged_button"))
    action, handler, on_its_own = ENTRIES[value]
    if not authz.allowed_somewhere(ctx.person, action) and not authz.RULES[action].own:
        # A press of a button their menu never showed: refused (and audited) before anything runs.
        try:
            authz.require(ctx, action)
        except Refused as refused:
            return Action(say=((refused.reason, ()),), toast=refused.reason)
    if on_its_own:
        return await handler(ctx, "")
    return said(msg(USAGE.get(value, f"{value}.usage")))


AREA = Area(
    "admin",
    flows=(org.IMPORT, broadcast.FLOW),
    buttons={"adm": on_button, "aud": audit_command.on_button, "org": org.on_button, "sc": scorecards.on_button},
    commands={
        "admin": admin_command,
        **{name: handler for name, (_, handler, _) in ENTRIES.items() if name not in ELSEWHERE},
    },
    uploads={"org": Upload(org.import_upload, uploads.TABLE, "org.import")},
    links={"join": org.join},
    privileged={
        "admin": "admin.menu",
        **{name: action for name, (action, _, _) in ENTRIES.items() if name not in ELSEWHERE},
    },
)
