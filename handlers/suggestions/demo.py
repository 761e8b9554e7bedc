"""The suggestion box's part of the demo's past (handlers/core/demo.py): suggestions signed by their
authors over the months, each with the office's reply, some under review, some adopted with what
was done ("you said, we did"), a few declined; upvotes from colleagues."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.demo import Past, demo_people
from storage.models import PersonRole, Suggestion, SuggestionMessage

SAID = (
    ("canteen", "希望食堂每周增加一次川菜"),
    ("canteen", "食堂晚饭能不能延长到七点"),
    ("facilities", "三楼饮水机出水太慢，建议更换"),
    ("facilities", "停车场夜间照明不够"),
    ("cleaning", "卫生间洗手液经常用完，建议加装感应式"),
    ("supplies", "希望物资申领增加常用电池"),
    ("other", "Could the meeting rooms be booked online?"),
)
REPLIES = ("谢谢建议，我们正在了解情况。", "已转给相关部门，下周答复。", "Thank you, we are looking into it.")
DONE = ("已从下月起试行", "已更换新设备", "已加装照明", "Started last month")


async def write(session: AsyncSession, past: Past) -> dict[str, int]:
    rng = past.rng
    office = [
        r.person_id for r in await session.scalars(select(PersonRole).where(PersonRole.role == "logistics_admin"))
    ]
    people = [p.id for p in await demo_people(session)]
    if not (office and people):
        return {}
    made = 0
    for week in range(0, (past.last - past.first).days, 14):
        topic, body = rng.choice(SAID)
        at = past.at(past.first + timedelta(days=week + rng.randrange(10)))
        status = past.weighted({"adopted": 4.0, "review": 2.0, "declined": 1.0, "received": 1.0})
        suggestion = Suggestion(
            topic=topic,
            body=body,
            named=True,
            author_id=rng.choice(people),
            public=True,
            status=status,
            outcome=rng.choice(DONE) if status == "adopted" else None,
            upvotes=rng.randint(0, 9),
            created_at=at,
            updated_at=at + timedelta(days=rng.randint(1, 6)),
        )
        session.add(suggestion)
        await session.flush()
        if status != "received":
            replied = at + timedelta(hours=rng.uniform(2, 48))
            session.add(
                SuggestionMessage(
                    suggestion_id=suggestion.id,
                    from_office=True,
                    author_id=rng.choice(office),
                    body=rng.choice(REPLIES),
                    at=replied,
                )
            )
        made += 1
    await session.flush()
    return {"past suggestions": made}
