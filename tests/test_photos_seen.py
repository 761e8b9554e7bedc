"""Who may see a photo in the browser chat: its sender always, anyone else only if an area keeping such
photos says so (Area.photos; the repairs: whoever may view its ticket, tests/dialog/test_repair_web.py)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.areas import AREAS
from handlers.accounts.views import photo_for
from handlers.core.area import Area
from storage.db import Database
from storage.models import Person, Photo
from tests.supplies import person_id

PNG = b"\x89PNG not really"


async def sent_by(db: Database, key: str) -> str:
    """A photo `key` sent in the browser chat and never attached to anything; its id as a URL holds it."""
    async with db.unit_of_work() as session:
        photo = Photo(person_id=await person_id(db, key), channel="web", content=PNG, content_type="image/png")
        session.add(photo)
        await session.flush()
        return str(photo.id)


async def the_front_desk(session: AsyncSession, person: Person, photo: Photo) -> bool:
    return person.demo_key == "zhang.wei"


async def seen(db: Database, areas: tuple[Area, ...], key: str, photo_ref: str) -> bytes | None:
    photo = await photo_for(db, areas, "web", key, photo_ref)
    return photo.content if photo is not None else None


async def test_a_photo_shows_to_its_sender_and_to_whom_an_area_lets_see_it(db: Database) -> None:
    photo = await sent_by(db, "wang.fang")
    assert await seen(db, (), "wang.fang", photo) == PNG
    assert await seen(db, (), "zhang.wei", photo) is None
    # Houqin's own areas: a photo on no ticket is nobody else's to see.
    assert await seen(db, AREAS, "zhang.wei", photo) is None
    lamps = Area("lamps", photos=the_front_desk)
    assert await seen(db, (*AREAS, lamps), "zhang.wei", photo) == PNG
    assert await seen(db, (*AREAS, lamps), "chen.jing", photo) is None
