"""The deliberate breaks: each one rule of the design undone in the source, and the tests that
guard that rule. A break the named tests still pass is a rule nobody would notice losing.

Each break replaces one piece of text that must occur exactly once in its file (so a change to the
code that moves it is noticed, not silently skipped).
"""

from __future__ import annotations

from dataclasses import dataclass

# The 200-people race is left out: slow, and it proves load, not each change's condition.
STOCK_TESTS = (
    "tests/test_stock_shortages.py",
    "tests/test_requisition_rules.py::test_every_movement_is_in_the_ledger_and_it_adds_up",
    "tests/test_requisition_rules.py::test_a_count_below_what_is_reserved_is_refused",
    "tests/test_requisition_rules.py::test_one_low_stock_alert_per_crossing_of_the_threshold",
    "tests/test_requisition_rules.py::test_an_item_withdrawn_while_in_a_cart_is_taken_out_with_a_word",
)
AUTHZ_TESTS = ("tests/test_authz_table.py",)
DELIVERY_TESTS = (
    "tests/test_concurrency.py",
    "tests/dialog/test_repair_telegram.py::test_an_update_delivered_twice_makes_one_ticket",
    "tests/dialog/test_repair_web.py::test_the_same_submission_posted_twice_makes_one_ticket",
    "tests/dialog/test_slack_supply_and_safety.py::test_a_retried_event_is_handled_once",
    "tests/dialog/test_slack_supply_and_safety.py::test_a_page_submitted_twice_creates_one_ticket",
)
TOKEN_TESTS = ("tests/dialog/test_survey_tokens.py", "tests/test_survey_rules.py")
SEND_LOG_TESTS = ("tests/jobs/test_exactly_once.py", "tests/jobs/test_reminders.py")


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS: tuple[Mutant, ...] = (
    # --- stock: every change is one conditional UPDATE (handlers/supplies/stock.py) ---------------------------
    Mutant(
        "stock.reserve claims more than is available",
        "handlers/supplies/stock.py",
        "            SupplyItem.on_hand - SupplyItem.reserved >= quantity,\n",
        "",
        STOCK_TESTS,
    ),
    Mutant(
        "stock.reserve claims a withdrawn item",
        "handlers/supplies/stock.py",
        "            SupplyItem.active.is_(True),\n",
        "",
        STOCK_TESTS,
    ),
    Mutant(
        "stock.hand_out without its condition",
        "handlers/supplies/stock.py",
        ".where(SupplyItem.id == item_id, SupplyItem.reserved >= claimed, SupplyItem.on_hand >= given)",
        ".where(SupplyItem.id == item_id)",
        STOCK_TESTS,
    ),
    Mutant(
        "stock.release without its condition",
        "handlers/supplies/stock.py",
        ".where(SupplyItem.id == item_id, SupplyItem.reserved >= quantity)",
        ".where(SupplyItem.id == item_id)",
        STOCK_TESTS,
    ),
    Mutant(
        "stock.count sets on-hand without comparing it to the figure it read",
        "handlers/supplies/stock.py",
        ".where(SupplyItem.id == item_id, SupplyItem.on_hand == seen, SupplyItem.reserved <= counted)",
        ".where(SupplyItem.id == item_id, SupplyItem.reserved <= counted)",
        STOCK_TESTS,
    ),
    Mutant(
        "stock: a low-stock alert on every change below the threshold, not once per crossing",
        "handlers/supplies/stock.py",
        "SupplyItem.id == item_id, SupplyItem.low_alerted != low)",
        "SupplyItem.id == item_id)",
        STOCK_TESTS,
    ),
    # --- who may do what (handlers/core/authz.py) -------------------------------------------------------
    Mutant(
        "authz.allowed lets an unknown action through",
        "handlers/core/authz.py",
        "    if found is None:\n        return False\n    if own and found.own:",
        "    if found is None:\n        return True\n    if own and found.own:",
        AUTHZ_TESTS,
    ),
    Mutant(
        "authz: audit.view widened to managers",
        "handlers/core/authz.py",
        '"audit.view": rule(*ADMINS),',
        '"audit.view": rule(*OVERSEERS),',
        AUTHZ_TESTS,
    ),
    Mutant(
        "authz: a manager counts for every department",
        "handlers/core/authz.py",
        "            if department is not None and role.scope == department:",
        "            if True:",
        AUTHZ_TESTS,
    ),
    Mutant(
        "authz: anyone may do anything to their own record",
        "handlers/core/authz.py",
        "    if own and found.own:",
        "    if own:",
        AUTHZ_TESTS,
    ),
    # --- every inbound delivery is recorded under its key (handlers/core/engine.py, the channels) ---------
    Mutant(
        "engine: a delivery recorded under a key of its own, so a redelivery is new",
        "handlers/core/engine.py",
        "key=inbound.delivery_key, at=self.clock())",
        "key=f'{inbound.delivery_key}:{id(session)}', at=self.clock())",
        DELIVERY_TESTS,
    ),
    Mutant(
        "engine: a duplicate delivery is handled again instead of handing back the first outcome",
        "handlers/core/engine.py",
        "                if earlier := await self.earlier_outcome(inbound):\n"
        "                    return earlier, True\n",
        "",
        DELIVERY_TESTS,
    ),
    Mutant(
        "engine: a discreet delivery kept under its sealed key is handled again when it comes back",
        "handlers/core/engine.py",
        "        if kept_sealed:\n",
        "        if False:\n",
        (
            "tests/dialog/test_anonymity.py::test_anonymous_answers_are_tied_to_nobody_by_value_time_transaction_or_order",
            "tests/dialog/test_anonymity.py::test_an_anonymous_suggester_is_found_by_no_row_time_or_order",
        ),
    ),
    Mutant(
        "engine: a home screen's first contact racing another process is not tried again",
        "handlers/core/engine.py",
        "            except IntegrityError:\n                # A first contact raced",
        "            except ZeroDivisionError:\n                # A first contact raced",
        ("tests/test_first_use_races.py",),
    ),
    Mutant(
        "telegram: a re-sent update gets a new key",
        "bot/channels/telegram/channel.py",
        "    key = str(update.update_id)\n",
        '    key = str(update.update_id) + __import__("secrets").token_hex(4)\n',
        DELIVERY_TESTS,
    ),
    Mutant(
        "slack: a retried event gets a new key",
        "bot/channels/slack/channel.py",
        '            key = f"event:{event_id}"\n',
        '            key = f"event:{event_id}:{id(event)}"\n',
        DELIVERY_TESTS,
    ),
    # --- anonymous survey tokens (handlers/surveys/campaigns.py, handlers/core/keys.py) -------------------------
    Mutant(
        "surveys: the token without the survey's own key",
        "handlers/surveys/campaigns.py",
        'keys.token(server_key, "survey", survey.id, survey.token_key, person_id)',
        'keys.token(server_key, "survey", survey.id, person_id)',
        TOKEN_TESTS,
    ),
    Mutant(
        "surveys: closing keeps the survey's key",
        "handlers/surveys/records.py",
        "    survey.closed_at = now\n    survey.token_key = None\n",
        "    survey.closed_at = now\n",
        TOKEN_TESTS,
    ),
    Mutant(
        "keys: a seal opens without its tag matching",
        "handlers/core/keys.py",
        "    if not hmac.compare_digest(tag, expected):\n        return None\n",
        "",
        TOKEN_TESTS,
    ),
    Mutant(
        "keys: a process losing the race to make the server key fails instead of taking the winner's",
        "handlers/core/keys.py",
        "    except IntegrityError:\n        pass\n",
        "    except IntegrityError:\n        raise\n",
        (*TOKEN_TESTS, "tests/test_first_use_races.py"),
    ),
    # --- the send log: once per (kind, subject, person, period) (handlers/core/sends.py) ------------------
    Mutant(
        "sends: every run is a period of its own",
        "handlers/core/sends.py",
        "                    period=delivery.period,\n",
        "                    period=f'{delivery.period}@{now.isoformat()}',\n",
        SEND_LOG_TESTS,
    ),
    Mutant(
        "sends: the send log is not written",
        "handlers/core/sends.py",
        "            session.add(\n                Send(\n",
        "            (lambda _row: None)(\n                Send(\n",
        SEND_LOG_TESTS,
    ),
)
