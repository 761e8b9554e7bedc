"""Every word Houqin says exists in both catalogs, with the same placeholders."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from bot.areas import AREAS
from bot.channels.registry import CHANNELS
from bot.channels.web import STATIC
from handlers.admin import exports, org
from handlers.admin import menu as admin
from handlers.bookings.ledger import STATUSES as BOOKING_STATUSES
from handlers.bookings.rooms import EQUIPMENT as BOOKING_EQUIPMENT
from handlers.bookings.vehicles import STATUSES as TRIP_STATUSES
from handlers.core import authz, org_settings
from handlers.core.authz import ROLES
from handlers.core.i18n import LOCALES, MissingMessage, catalog, translate
from handlers.core.rules import URGENCIES
from handlers.energy.meters import PROBLEMS as METER_PROBLEMS
from handlers.energy.readings import KINDS as METER_KINDS
from handlers.inspections.routes import KINDS as INSPECTION_KINDS
from handlers.inspections.routes import PROBLEMS as INSPECTION_PROBLEMS
from handlers.inspections.routes import WEEKDAYS
from handlers.repairs.intake import CATEGORIES
from handlers.repairs.tickets import STATUSES
from handlers.repairs.tickets import TRANSITIONS as TICKET_MOVES
from handlers.suggestions.box import STATUSES as SUGGESTION_STATUSES
from handlers.suggestions.box import TOPICS
from handlers.supplies.requisitions import FROM as REQUISITION_ACTIONS
from handlers.supplies.requisitions import STATUSES as REQUISITION_STATUSES
from handlers.supplies.stock import CATEGORIES as SUPPLY_CATEGORIES
from handlers.supplies.stock import KINDS, SUBCOMMANDS, UNITS
from handlers.surveys.builder import KINDS as SURVEY_KINDS
from handlers.surveys.definitions import PROBLEMS as SURVEY_PROBLEMS

ROOT = Path(__file__).resolve().parent.parent
# Message keys are dotted names under these families; any such string literal in code is a key it says.
FAMILIES = (
    "chart",
    "dialog",
    "repair",
    "menu",
    "help",
    "my",
    "lang",
    "location",
    "command",
    "web",
    "ticket",
    "supply",
    "requisition",
    "stock",
    "slack",
    "feishu",
    "dingtalk",
    "wecom",
    "account",
    "survey",
    "suggest",
    "reminder",
    "digest",
    "admin",
    "role",
    "audit",
    "export",
    "stats",
    "broadcast",
    "settings",
    "scorecard",
    "org",
    "member",
    "signin",
    "inspect",
    "meter",
    "energy",
    "booking",
    "console",
)
# Audit action names (action="ticket.assign") share the dotted style but are not words said to anyone.
LITERAL_KEY = re.compile(
    r"""(?<!action=)["'](({families})(?:\.[a-z_]+)+)["']""".replace("{families}", "|".join(FAMILIES))
)


# What the audit log records: an action written literally, or built from the tickets' and
# requisitions' moves, /stock's changes, /role's and /export's kinds (handlers/admin/audit_log.named).
LITERAL_ACTION = re.compile(
    r'action="([a-z_]+\.[a-z_.]+)"|\bdone(?:_at_write)?\(\s*\w+,\s*"([a-z_]+\.[a-z_]+)"'
    r'|"([a-z_]+\.[a-z_]+)":\s*(?:authz\.)?rule\(|^ACTION = "([a-z_]+\.[a-z_]+)"',
    re.MULTILINE,
)


def audited_actions() -> set[str]:
    authz.declare(AREAS)  # the areas' privileged actions join the core's, as Houqin does at start-up
    found: set[str] = set(authz.RULES)
    for folder in ("bot", "handlers", "jobs"):
        for path in (ROOT / folder).rglob("*.py"):
            found |= {next(filter(None, match)) for match in LITERAL_ACTION.findall(path.read_text(encoding="utf-8"))}
    found |= {f"ticket.{action}" for action in (*TICKET_MOVES, "view", "rate")}
    # escalate: a leaver's pending approval sent on to the next approver (requisitions.leaver).
    found |= {f"requisition.{action}" for action in (*REQUISITION_ACTIONS, "view", "escalate")}
    found |= {f"stock.{change}" for change in (*SUBCOMMANDS, "view")}
    found |= {f"role.{sub}" for sub in ("grant", "revoke")} | {f"export.{kind}" for kind in exports.kinds(AREAS)}
    return found


def test_the_audit_log_names_what_it_records_and_nothing_else() -> None:
    named = {key.removeprefix("audit.action.") for key in catalog("en") if key.startswith("audit.action.")}
    actions = audited_actions()
    assert {"ticket.resolve", "requisition.approve", "export.tickets", "settings.change", "button.forged"} <= actions
    assert sorted(named - actions) == [], "names of actions nothing records"
    assert sorted(actions - named) == [], "actions recorded without a name"
    channels = {key.removeprefix("audit.channel.") for key in catalog("en") if key.startswith("audit.channel.")}
    assert channels == {kind.name for kind in CHANNELS} | {"cli", "system"}


def keys_used_in_code() -> set[str]:
    used: set[str] = set()
    for folder in ("bot", "handlers", "jobs"):
        for path in (ROOT / folder).rglob("*.py"):
            used |= {match[0] for match in LITERAL_KEY.findall(path.read_text(encoding="utf-8"))}
    # The console's templates say their words as t("console…") (bot/channels/web/console.py).
    for path in (ROOT / "bot" / "channels" / "web" / "templates").glob("*.html"):
        used |= {match[0] for match in LITERAL_KEY.findall(path.read_text(encoding="utf-8"))}
    used |= {f"console.ticket.{action}" for action in ("close", "reopen")}
    used |= {f"console.requisition.done.{action}" for action in ("approve", "reject", "ready", "handout", "cancel")}
    used |= {f"console.stock.done.{change}" for change in ("add", "set", "threshold", "limit")}
    used |= {f"console.audit.outcome.{outcome}" for outcome in ("ok", "refused")}
    used |= {f"console.suggestion.done.{done}" for done in ("reply", "unreached", "status")}
    # Keys built from the business vocabulary: one per value.
    used |= {f"repair.category.{c}" for c in CATEGORIES}
    used |= {f"repair.urgency.{u}" for u in URGENCIES}
    used |= {f"repair.status.{s}" for s in STATUSES}
    used |= {f"web.role.{r}" for r in ROLES}
    used |= {f"command.{c}" for c in ("start", "repair", "my", "lang", "help", "cancel", "ticket", "assign")}
    used |= {f"command.{c}" for c in ("supply", "requisition", "requisitions", "delegate", "stock")}
    used |= {"command.link", "command.web"}
    used |= {f"supply.category.{c}" for c in SUPPLY_CATEGORIES} | {f"supply.unit.{u}" for u in UNITS}
    used |= {f"supply.submitted.{s}" for s in ("pending_manager", "pending_admin")}
    used |= {f"requisition.status.{s}" for s in REQUISITION_STATUSES}
    used |= {f"requisition.button.{a}" for a in REQUISITION_ACTIONS}
    used |= {f"requisition.done.{a}" for a in ("cancel", "handout")}
    used |= {f"stock.kind.{k}" for k in KINDS} | {f"stock.import.row.bad_{c}" for c in ("category", "unit")}
    used |= {f"stock.done.{c}" for c in SUBCOMMANDS} | {f"stock.usage.{c}" for c in SUBCOMMANDS}
    used |= {f"ticket.button.{a}" for a in ("accept", "decline", "start", "parts", "resolve", "comment", "assign")}
    used |= {f"ticket.flow.{f}" for f in ("decline", "parts", "resolve", "comment", "rating_comment", "reassign")}
    used |= {f"ticket.button.{a}" for a in ("cancel",)} | {f"ticket.done.{a}" for a in ("start", "cancel")}
    used |= {f"ticket.done.{a}" for a in ("close", "reopen")}
    used |= {f"command.{c}" for c in admin.COMMANDS}
    used |= {f"admin.menu.{part}.{name}" for part in ("line", "button") for name in admin.entries(AREAS)}
    used |= {f"role.{part}.{sub}" for part in ("done", "told") for sub in ("grant", "revoke")}
    used |= {f"export.column.{c}" for export in exports.kinds(AREAS).values() for c in export.columns}
    used |= {f"export.kind.{kind}" for kind in exports.kinds(AREAS)}
    used |= {f"settings.key.{key}" for key in org_settings.KEYS} | {f"org.import.kind.{kind}" for kind in org.COLUMNS}
    used |= {f"command.{c}" for c in ("survey", "suggest")}
    used |= {f"audit.action.{action}" for action in audited_actions()}
    used |= {f"audit.channel.{kind.name}" for kind in CHANNELS} | {"audit.channel.cli", "audit.channel.system"}
    used |= {f"survey.import.error.{p}" for p in SURVEY_PROBLEMS}
    used |= {f"survey.status.{s}" for s in ("draft", "open", "closed")}
    used |= {f"survey.new.kind.{k}" for k in SURVEY_KINDS}
    used |= {f"survey.audience.{a}" for a in ("everyone", "departments", "roles")}
    used |= {f"suggest.topic.{t}" for t in TOPICS} | {f"suggest.status.{s}" for s in SUGGESTION_STATUSES}
    used |= {f"suggest.button.{s}" for s in ("review", "adopted", "declined")}
    used |= {f"suggest.flow.{f}" for f in ("reply", "answer", "outcome")}
    used |= {f"member.status.{s}" for s in ("pending", "approved", "denied")}
    used |= {f"inspect.kind.{k}" for k in INSPECTION_KINDS} | {f"inspect.weekday.{d}" for d in WEEKDAYS}
    used |= {f"inspect.import.error.{p}" for p in INSPECTION_PROBLEMS} | {"command.inspect"}
    used |= {f"command.{c}" for c in ("meter", "energy")} | {f"meter.kind.{k}" for k in METER_KINDS}
    used |= {f"meter.{part}.{p}" for part in ("error", "import.row") for p in METER_PROBLEMS}
    used |= {"command.book"} | {f"booking.equipment.{e}" for e in BOOKING_EQUIPMENT}
    used |= {f"booking.trip.status.{s}" for s in TRIP_STATUSES}
    used |= {f"booking.status.{s}" for s in BOOKING_STATUSES}
    used |= {f"booking.weekday.{day}" for day in range(7)}
    return used


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_catalogs_hold_the_same_messages() -> None:
    zh, en = catalog("zh_CN"), catalog("en")
    assert sorted(set(zh) ^ set(en)) == []
    assert [key for key in zh if not zh[key].strip() or not en[key].strip()] == []


def test_translations_keep_their_placeholders() -> None:
    zh, en = catalog("zh_CN"), catalog("en")
    assert {
        k: (placeholders(zh[k]), placeholders(en[k])) for k in zh if placeholders(zh[k]) != placeholders(en[k])
    } == {}


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_the_code_says_is_in_the_catalog(locale: str) -> None:
    missing = sorted(keys_used_in_code() - set(catalog(locale)))
    assert missing == [], f"missing from {locale}: {missing}"


def test_every_catalog_message_is_said_somewhere() -> None:
    page = "".join(path.read_text(encoding="utf-8") for path in STATIC.glob("*.js"))
    page_keys = {key for key in catalog("en") if key.startswith("web.") and key in page}
    unused = sorted(set(catalog("en")) - keys_used_in_code() - page_keys - {"lang.name"})
    assert unused == []


def test_the_chinese_catalog_is_chinese() -> None:
    han = re.compile(r"[\u4e00-\u9fff]")
    # Lines made only of placeholders and punctuation have nothing to translate.
    only_symbols = (
        "help.line",
        "dialog.error.prefix",
        "ticket.history_line",
        "ticket.comment_line",
        "requisition.history_line",
        "requisition.line",
        "survey.confirm_line",
        "survey.results.question",
        "survey.results.text",
        "survey.results.text_named",
        "digest.count_line",
        "audit.line",
        "role.with_scope",
        "booking.line",
        "booking.trip.line",
        "booking.equipment_list",
        "booking.today.entry",
        # Brand names, written the same in Chinese.
        "audit.channel.telegram",
        "audit.channel.slack",
    )
    untranslated = [k for k, v in catalog("zh_CN").items() if not han.search(v) and k not in only_symbols]
    assert untranslated == []


def test_a_missing_message_is_an_error_not_silence() -> None:
    with pytest.raises(MissingMessage, match=r"'no\.such\.key' is missing from the en catalog"):
        translate("en", "no.such.key")


@pytest.mark.parametrize(
    ("count", "said"),
    [(1, "1 survey is waiting for your answers:"), (2, "2 surveys are waiting for your answers:")],
)
def test_counts_take_the_plural_form_their_language_gives_them(count: int, said: str) -> None:
    assert translate("en", "survey.mine", count=count) == said
    assert translate("zh_CN", "survey.mine", count=count) == f"有 {count} 份问卷等你填写："  # one form in Chinese


def test_every_plural_message_has_each_form_of_its_language() -> None:
    from handlers.core.i18n import catalog_of

    english, chinese = catalog_of("en"), catalog_of("zh_CN")
    assert "survey.mine" in english.plural_forms and (english.plural(1), english.plural(5)) == (0, 1)
    assert all(len(forms) == 2 for forms in english.plural_forms.values())
    # Each form says its number, but for a unit, which is said after a number of its own (× 1 pack).
    assert all(
        all("{count}" in f for f in forms) or key.startswith("supply.unit.")
        for key, forms in english.plural_forms.items()
    )
    assert translate("en", "supply.unit.pack", count=1) == "pack" and translate("en", "supply.unit.pack") == "packs"
    assert all(len(forms) == 1 for forms in chinese.plural_forms.values())


# Numbers that never count one thing: limits and lengths (over a limit, at least a minimum).
BOUNDS = {"max", "min", "got"}
# Lifetimes fixed in the code at more than one unit (an invitation's 7 days, a link's 10 minutes).
FIXED = {
    "org.invite.done",
    "org.invite.open_done",
    "requisition.delegate.bad_dates",
    "signin.link",
    "account.link.code",
}
# Words ending in s after a name or number that are verbs, not counted nouns.
VERBS = {"is", "was", "has", "does", "takes", "needs", "appears", "approves", "as", "this"}


def test_english_counts_of_things_are_plural_messages() -> None:
    """ "1 answers" cannot be written: an English message that puts a number before a noun in the
    plural takes plural forms (the number as {count}), unless the number is a bound, never one."""
    from handlers.core.i18n import catalog_of

    english = catalog_of("en")
    counted = re.compile(r"\{(\w+)\} (?:written |new )?([a-z]+s)\b")
    singular_counts = [
        (key, number, noun)
        for key, text in english.messages.items()
        if key not in english.plural_forms and key not in FIXED
        for number, noun in counted.findall(text)
        if number not in BOUNDS and noun not in VERBS
    ]
    assert singular_counts == []
    assert [key for key, text in english.messages.items() if "(s)" in text] == []  # "1 open request(s)"
    assert translate("en", "survey.results.choices", count=1) == "1 answer"
    assert translate("en", "suggest.voted", number="S-1", count=1) == "Upvoted S-1: 1 vote now."
    assert translate("en", "export.done", kind="Tickets", period="2026-W48", count=1) == (
        "📎 Tickets export (2026-W48), 1 row:"
    )
