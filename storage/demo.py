"""A believable organisation to try Houqin with: departments, people in every role, buildings, rooms.

Idempotent: every record is found by its code (people by their demo key) before it is created.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Building, ChannelAccount, Department, Person, PersonRole, Room

DEPARTMENTS = [
    ("finance", "财务处", "Finance Office"),
    ("hr", "人事处", "Human Resources"),
    ("it", "信息中心", "IT Centre"),
    ("logistics", "后勤保障处", "Logistics Office"),
    ("teaching", "教务处", "Academic Affairs"),
]

# demo key, name, department, locale, roles (role or role:scope)
PEOPLE = [
    ("wang.fang", "王芳", "finance", "zh_CN", ["staff"]),
    ("li.na", "李娜", "finance", "zh_CN", ["staff"]),
    ("zhang.wei", "张伟", "hr", "zh_CN", ["staff"]),
    ("liu.yang", "刘洋", "teaching", "zh_CN", ["staff"]),
    ("chen.jing", "陈静", "teaching", "zh_CN", ["staff"]),
    ("emma.clark", "Emma Clark", "it", "en", ["staff"]),
    ("david.wu", "David Wu", "hr", "en", ["staff"]),
    ("zhao.lei", "赵磊", "logistics", "zh_CN", ["staff", "technician:electrical", "technician:hvac"]),
    ("sun.qiang", "孙强", "logistics", "zh_CN", ["staff", "technician:plumbing"]),
    ("zhou.jun", "周军", "logistics", "zh_CN", ["staff", "technician:furniture", "technician:other"]),
    ("wu.min", "吴敏", "logistics", "zh_CN", ["staff", "technician:cleaning"]),
    ("tom.baker", "Tom Baker", "it", "en", ["staff", "technician:it"]),
    ("huang.li", "黄丽", "finance", "zh_CN", ["staff", "manager:finance"]),
    ("xu.ming", "徐明", "hr", "zh_CN", ["staff", "manager:hr"]),
    ("sarah.lin", "Sarah Lin", "it", "en", ["staff", "manager:it"]),
    ("ma.hong", "马红", "teaching", "zh_CN", ["staff", "manager:teaching"]),
    ("guo.tao", "郭涛", "logistics", "zh_CN", ["staff", "logistics_staff"]),
    ("he.ping", "何平", "logistics", "zh_CN", ["staff", "logistics_staff"]),
    ("lin.hua", "林华", "logistics", "zh_CN", ["staff", "manager:logistics", "logistics_admin"]),
    ("admin", "系统管理员 Admin", "it", "zh_CN", ["staff", "admin"]),
]

BUILDINGS = [
    (
        "A",
        "行政楼",
        "Administration Building",
        [
            ("101", "接待大厅", "Reception hall"),
            ("201", "第一会议室", "Meeting room 1"),
            ("305", "财务处办公室", "Finance office"),
        ],
    ),
    (
        "B",
        "教学楼",
        "Teaching Building",
        [
            ("102", "阶梯教室", "Lecture hall"),
            ("210", "语音室", "Language lab"),
            ("301", "三楼卫生间", "3rd floor restrooms"),
        ],
    ),
    (
        "C",
        "食堂",
        "Canteen",
        [
            ("101", "一楼餐厅", "Ground floor dining hall"),
            ("102", "后厨", "Kitchen"),
        ],
    ),
    (
        "D",
        "宿舍楼",
        "Dormitory",
        [
            ("101", "101 宿舍", "Room 101"),
            ("102", "102 宿舍", "Room 102"),
            ("B1", "洗衣房", "Laundry room"),
        ],
    ),
]


async def seed(session: AsyncSession) -> dict[str, int]:
    """Create whatever is missing; returns how many records of each kind were added."""
    added = {"departments": 0, "people": 0, "buildings": 0, "rooms": 0}
    departments: dict[str, Department] = {d.code: d for d in await session.scalars(select(Department))}
    for code, zh, en in DEPARTMENTS:
        if code not in departments:
            departments[code] = Department(code=code, name_zh=zh, name_en=en)
            session.add(departments[code])
            added["departments"] += 1
    await session.flush()

    known = set(await session.scalars(select(Person.demo_key).where(Person.demo_key.is_not(None))))
    for key, name, department, locale, roles in PEOPLE:
        if key in known:
            continue
        person = Person(display_name=name, locale=locale, department_id=departments[department].id, demo_key=key)
        for role in roles:
            role_name, _, scope = role.partition(":")
            person.roles.append(PersonRole(role=role_name, scope=scope))
        person.accounts.append(ChannelAccount(channel="web", external_id=key, address=key))
        session.add(person)
        added["people"] += 1

    buildings = {b.code: b for b in await session.scalars(select(Building))}
    for code, zh, en, rooms in BUILDINGS:
        building = buildings.get(code)
        if building is None:
            building = Building(code=code, name_zh=zh, name_en=en)
            session.add(building)
            await session.flush()
            added["buildings"] += 1
        existing = set(await session.scalars(select(Room.code).where(Room.building_id == building.id)))
        for room_code, room_zh, room_en in rooms:
            if room_code not in existing:
                session.add(Room(building_id=building.id, code=room_code, name_zh=room_zh, name_en=room_en))
                added["rooms"] += 1
    await session.flush()
    return added
