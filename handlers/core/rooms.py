"""The rooms door signs are printed for (bot/qr.py): each with its building, as plain values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Building, Room


@dataclass(frozen=True)
class DoorBuilding:
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class DoorRoom:
    id: int  # what a sign's link carries: codes such as "101" repeat across buildings
    code: str
    name_zh: str
    name_en: str
    building: DoorBuilding


class UnknownBuildingError(LookupError):
    def __init__(self, unknown: Sequence[str], known: Sequence[str]) -> None:
        what = "building" if len(unknown) == 1 else "buildings"
        super().__init__(f"unknown {what} {', '.join(unknown)} (known: {', '.join(known) or 'none'})")
        self.unknown = tuple(unknown)


async def rooms_of(session: AsyncSession, building_codes: Sequence[str] = ()) -> list[DoorRoom]:
    """The rooms (with their buildings) of these buildings, or of all when none are named."""
    known = list(await session.scalars(select(Building.code).order_by(Building.code)))
    unknown = [code for code in dict.fromkeys(building_codes) if code not in known]
    if unknown:
        raise UnknownBuildingError(unknown, known)
    query = select(Room).join(Room.building).order_by(Building.code, Room.code)
    if building_codes:
        query = query.where(Building.code.in_(building_codes))
    return [
        DoorRoom(
            room.id,
            room.code,
            room.name_zh,
            room.name_en,
            DoorBuilding(room.building.code, room.building.name_zh, room.building.name_en),
        )
        for room in await session.scalars(query)
    ]
