"""Supply requisitions (物资申领): the catalog and the cart.

Browse by category (a page of items at a time) or search by name in either language; every item
shows what is available now. The cart is a loop: pick an item, say how many, then add another or go
on; then the purpose, a confirmation with the totals and who will approve, and submit. Submitting
reserves the stock (handlers/supplies/requisitions.py); when someone else was faster, the person is brought
back to their cart, told how many are left, with nothing reserved. The cart lives in the dialog
state, so it survives a restart.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from handlers.core.actor import supply_actor
from handlers.core.area import Area
from handlers.core.flow import (
    ChoiceStep,
    ConfirmStep,
    Data,
    Flow,
    Goto,
    Invalid,
    NumberStep,
    Option,
    StepContext,
    Submitted,
    TextStep,
)
from handlers.core.i18n import Lines, Msg, Renderable, msg
from handlers.supplies import figures, requisitions, stock
from storage.models import SupplyItem

SEARCH = "search"
PAGE = 6
# A quantity above this is a typo, whatever the stock.
MAX_QUANTITY = 9999
MAX_LINES = 20
MAX_QUERY = 50
# The answers of one round of the cart loop, forgotten when the item goes into the cart.
ROUND = ("browse", "query", "item", "quantity")


def cart_of(data: Data) -> list[dict[str, int]]:
    return [dict(line) for line in data.get("cart") or []]


def in_cart(data: Data, item_id: int) -> int:
    return sum(line["quantity"] for line in cart_of(data) if line["item"] == item_id)


async def active_items(ctx: StepContext) -> list[SupplyItem]:
    found = await ctx.session.scalars(
        select(SupplyItem)
        .where(SupplyItem.active.is_(True))
        .order_by(SupplyItem.category, SupplyItem.code)
        .execution_options(populate_existing=True)
    )
    return list(found.all())


async def search(ctx: StepContext, query: str) -> list[SupplyItem]:
    """Items whose name (in either language) or code holds every word typed."""
    words = query.casefold().split()
    return [
        item
        for item in await active_items(ctx)
        if all(word in f"{item.name_zh} {item.name_en} {item.code}".casefold() for word in words)
    ]


async def listed_items(ctx: StepContext) -> list[SupplyItem]:
    if ctx.data.get("browse") == SEARCH:
        return await search(ctx, str(ctx.data.get("query") or ""))
    return [item for item in await active_items(ctx) if item.category == ctx.data.get("browse")]


# --- the steps ------------------------------------------------------------------------------------


CART = "cart"


async def category_options(ctx: StepContext) -> Sequence[Option]:
    stocked = {item.category for item in await active_items(ctx)}
    found = [Option(c, msg(f"supply.category.{c}")) for c in stock.CATEGORIES if c in stocked]
    # From "add another item", a way back to what is already chosen.
    back = [Option(CART, msg("supply.button.back_to_cart"))] if cart_of(ctx.data) else []
    return [*found, Option(SEARCH, msg("supply.button.search")), *back]


def a_query(text: str) -> str:
    query = " ".join(text.split())
    if not query:
        raise Invalid(msg("dialog.error.too_short", min=1))
    if len(query) > MAX_QUERY:
        raise Invalid(msg("dialog.error.too_long", max=MAX_QUERY, got=len(query)))
    return query


async def typed_at_browse(ctx: StepContext, text: str) -> str:
    """Words typed instead of choosing a category are a search; an item's code or exact name is
    that item, straight to its quantity."""
    ctx.data["browse"], ctx.data["query"] = SEARCH, a_query(text)
    item = await stock.find_item(ctx.session, text)
    if item is not None and item.active:
        ctx.data["item"] = str(item.id)
        try:
            await after_item(ctx)
        except Goto:
            del ctx.data["item"]  # none left of it: show the search instead, saying so
            raise
        raise Goto("quantity")
    raise Goto("item")


async def after_browse(ctx: StepContext) -> str | None:
    # A category, or a search still to be typed: either way an earlier search is over.
    ctx.data.pop("query", None)
    if ctx.data.get("browse") == CART:
        if not cart_of(ctx.data):
            raise Invalid(msg("dialog.error.not_an_option"))
        ctx.data.pop("browse", None)
        return "more"
    return None


async def item_options(ctx: StepContext) -> Sequence[Option]:
    return [
        Option(
            str(item.id),
            msg(
                "supply.item_option" if item.available > 0 else "supply.item_option_none",
                name=stock.item_label(item),
                available=item.available,
                unit=stock.unit_of(item, item.available),
            ),
        )
        for item in await listed_items(ctx)
    ]


async def item_prompt(ctx: StepContext) -> Msg:
    if ctx.data.get("browse") != SEARCH:
        return msg("supply.ask_item", category=msg(f"supply.category.{ctx.data.get('browse')}"))
    found = await listed_items(ctx)
    query = str(ctx.data.get("query") or "")
    return msg("supply.ask_item_found", query=query, count=len(found)) if found else msg("supply.no_match", query=query)


async def typed_at_item(ctx: StepContext, text: str) -> str:
    """An item's code or exact name chooses it; any other words are a new search."""
    item = await stock.find_item(ctx.session, text)
    if item is not None and item.active:
        return str(item.id)
    ctx.data["browse"], ctx.data["query"] = SEARCH, a_query(text)
    raise Goto("item")


async def after_item(ctx: StepContext) -> None:
    item = await chosen_item(ctx)
    if item.available - in_cart(ctx.data, item.id) <= 0:
        raise Goto("item", msg("supply.error.none_left", name=stock.item_label(item)))
    if await limit_left(ctx, item) == 0:
        # Nothing left of this month's limit: no quantity to ask for; back to the cart, or to the items.
        reached = msg("supply.error.limit_used_up", name=stock.item_label(item), limit=item.monthly_limit)
        if cart_of(ctx.data):
            for key in ROUND:
                ctx.data.pop(key, None)
            ctx.data["_trail"] = []
            raise Goto("more", reached)
        raise Goto("item", reached)


async def most_now(ctx: StepContext) -> int | None:
    """The most of the chosen item one may ask for now: what is available, within the monthly limit."""
    item = await chosen_item(ctx)
    available = item.available - in_cart(ctx.data, item.id)
    left = await limit_left(ctx, item)
    return available if left is None else min(available, left)


async def chosen_item(ctx: StepContext) -> SupplyItem:
    return await stock.fresh(ctx.session, int(ctx.data["item"]))


async def quantity_prompt(ctx: StepContext) -> Msg:
    item = await chosen_item(ctx)
    left = await limit_left(ctx, item)
    note: Renderable = msg("supply.limit_note", limit=item.monthly_limit, left=left) if left is not None else Lines(())
    return msg(
        "supply.ask_quantity",
        name=stock.item_label(item),
        unit=stock.unit_of(item),
        available=item.available - in_cart(ctx.data, item.id),
        limit=note,
    )


async def limit_left(ctx: StepContext, item: SupplyItem) -> int | None:
    """What is left of the person's monthly limit for the item, after what is already in the cart."""
    if item.monthly_limit is None:
        return None
    actor = supply_actor(ctx)
    used = await requisitions.used_this_month(ctx.session, ctx.person.id, item.id, requisitions.month_start(actor))
    return max(0, item.monthly_limit - used - in_cart(ctx.data, item.id))


async def check_quantity(ctx: StepContext, quantity: int) -> Msg | None:
    item = await chosen_item(ctx)
    already = in_cart(ctx.data, item.id)
    if quantity + already > item.available:
        return msg(
            "supply.error.not_enough",
            name=stock.item_label(item),
            available=max(0, item.available - already),
            unit=stock.unit_of(item, max(0, item.available - already)),
        )
    left = await limit_left(ctx, item)
    if left is not None and quantity > left:
        return msg("supply.error.over_limit", limit=item.monthly_limit, left=left, unit=stock.unit_of(item))
    return None


async def into_cart(ctx: StepContext) -> str:
    """The item and its quantity go into the cart; the round's answers are forgotten (Back from
    the cart does not go through them again), and the cart is shown."""
    cart = cart_of(ctx.data)
    item_id, quantity = int(ctx.data["item"]), int(ctx.data["quantity"])
    for line in cart:
        if line["item"] == item_id:
            line["quantity"] += quantity
            break
    else:
        cart.append({"item": item_id, "quantity": quantity})
    ctx.data["cart"] = cart
    for key in ROUND:
        ctx.data.pop(key, None)
    ctx.data["_trail"] = []
    return "more"


async def cart_lines(ctx: StepContext) -> tuple[Lines, int, int]:
    """The cart as lines showing what is available now; with its total quantity and value (fen)."""
    lines: list[Renderable] = []
    quantity = value = 0
    for line in cart_of(ctx.data):
        item = await ctx.session.get(SupplyItem, line["item"])
        if item is None:
            continue
        quantity += line["quantity"]
        value += (item.unit_price or 0) * line["quantity"]
        lines.append(
            msg(
                "supply.cart_line",
                name=stock.item_label(item),
                quantity=line["quantity"],
                unit=stock.unit_of(item, line["quantity"]),
                available=item.available,
            )
        )
    return Lines(tuple(lines)), quantity, value


async def cart_prompt(ctx: StepContext) -> Msg:
    lines, quantity, _ = await cart_lines(ctx)
    return msg("supply.cart", lines=lines, count=len(cart_of(ctx.data)), total=quantity)


async def cart_options(ctx: StepContext) -> Sequence[Option]:
    cart = cart_of(ctx.data)
    options = [Option("add", msg("supply.button.add"))] if len(cart) < MAX_LINES else []
    options.append(Option("done", msg("supply.button.done")))
    for line in cart:
        item = await ctx.session.get(SupplyItem, line["item"])
        if item is not None:
            options.append(Option(f"rm{item.id}", msg("supply.button.remove", name=stock.item_label(item))))
    return options


async def after_cart(ctx: StepContext) -> str | None:
    choice = str(ctx.data["more"])
    if choice == "add":
        return "browse"
    if choice.startswith("rm"):
        ctx.data["cart"] = [line for line in cart_of(ctx.data) if str(line["item"]) != choice.removeprefix("rm")]
        return "more" if ctx.data["cart"] else "browse"
    return None


async def summary(ctx: StepContext) -> Msg:
    lines, quantity, value = await cart_lines(ctx)
    return msg(
        "supply.summary",
        lines=lines,
        total=quantity,
        value=stock.yuan(value) if value else "—",
        purpose=ctx.data["purpose"],
        route=await requisitions.route(supply_actor(ctx), quantity, value),
    )


async def submit(ctx: StepContext) -> Submitted:
    cart = cart_of(ctx.data)
    actor = supply_actor(ctx)
    try:
        requisition = await requisitions.submit(
            actor, [(line["item"], line["quantity"]) for line in cart], ctx.data["purpose"]
        )
    except requisitions.Shortage as short:
        raise Goto(
            "more",
            msg(
                "supply.error.taken_meanwhile",
                name=stock.item_label(short.item),
                available=short.available,
                unit=stock.unit_of(short.item, short.available),
            ),
        ) from None
    except requisitions.OverLimit as over:
        left = max(0, (over.item.monthly_limit or 0) - over.used)
        limit = msg("supply.error.over_limit", limit=over.item.monthly_limit, left=left, unit=stock.unit_of(over.item))
        raise Goto("more", msg("dialog.error.prefix", problem=limit)) from None
    except requisitions.Unavailable as gone:
        ctx.data["cart"] = [line for line in cart if line["item"] != gone.item_id]
        name: Renderable = stock.item_label(gone.item) if gone.item is not None else msg("supply.unknown_item")
        raise Goto("more" if ctx.data["cart"] else "browse", msg("supply.error.withdrawn", name=name)) from None
    lines = Lines(tuple(requisitions.line_text(line) for line in requisition.lines))
    route = msg(f"supply.submitted.{requisition.status}")
    return Submitted(
        msg("supply.submitted", number=requisition.number, lines=lines, route=route), str(requisition.number)
    )


async def preset(ctx: StepContext, words: str) -> Data:
    """/supply 打印纸: straight to what matches; /supply PAPER-A4 (a code or exact name): to its quantity."""
    found: Data = {"browse": SEARCH, "query": " ".join(words.split())[:MAX_QUERY], "_trail": ["browse"]}
    item = await stock.find_item(ctx.session, words)
    if item is not None and item.active and item.available > 0:
        found.update(item=str(item.id), _trail=["browse", "item"])
    return found


FLOW = Flow(
    name="supply",
    title=msg("supply.title"),
    description=msg("supply.description"),
    steps=(
        ChoiceStep(
            "browse",
            msg("supply.ask_category"),
            options=category_options,
            typed=typed_at_browse,
            then=after_browse,
        ),
        TextStep(
            "query", msg("supply.ask_query"), when=lambda data: data.get("browse") == SEARCH, max_length=MAX_QUERY
        ),
        ChoiceStep(
            "item",
            msg("supply.ask_item_found"),
            options=item_options,
            columns=1,
            page_size=PAGE,
            dynamic_prompt=item_prompt,
            typed=typed_at_item,
            then=after_item,
        ),
        NumberStep(
            "quantity",
            msg("supply.ask_quantity"),
            min_value=1,
            max_value=MAX_QUANTITY,
            quick=(1, 2, 5, 10),
            ceiling=most_now,
            dynamic_prompt=quantity_prompt,
            check=check_quantity,
            then=into_cart,
        ),
        ChoiceStep(
            "more",
            msg("supply.cart"),
            options=cart_options,
            columns=1,
            dynamic_prompt=cart_prompt,
            then=after_cart,
        ),
        TextStep("purpose", msg("supply.ask_purpose"), min_length=2, max_length=200),
        ConfirmStep("confirm", msg("supply.ask_confirm"), summary=summary),
    ),
    submit=submit,
    preset=preset,
)

AREA = Area("supply", flows=(FLOW,), slash_commands=("supply",), stats=(figures.requisition_figures,))
