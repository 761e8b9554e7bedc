"""A believable organisation to try Houqin with: departments, people in every role, buildings, rooms,
and a stores catalog with stock.

Idempotent: every record is found by its code (people by their demo key) before it is created.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import Building, ChannelAccount, Department, Person, PersonRole, Room, StockMovement, SupplyItem

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


# The stores (物资): code, name zh, name en, category, unit, stock, reorder at, monthly limit, price (fen).
# Approvals: each department's manager approves its staff's requisitions; 林华 (lin.hua) is the
# logistics admin for the second step; 郭涛 and 何平 hand things out.
SUPPLIES = [
    ("PAPER-A4", "A4 打印纸 70g 500张", "A4 copy paper, 70 g, 500 sheets", "paper", "pack", 200, 40, 20, 2400),
    ("PAPER-A3", "A3 打印纸 80g 500张", "A3 copy paper, 80 g, 500 sheets", "paper", "pack", 30, 5, 5, 4800),
    ("NOTE-STICKY", "便利贴 76×76mm", "Sticky notes 76×76 mm", "paper", "pack", 120, 20, 10, 350),
    ("NOTEBOOK-B5", "B5 软抄本", "B5 notebook", "paper", "book", 90, 20, 5, 450),
    ("TONER-HP26A", "惠普 26A 黑色硒鼓", "HP 26A black toner cartridge", "toner", "piece", 12, 3, 2, 42000),
    ("TONER-TN2425", "兄弟 TN-2425 粉盒", "Brother TN-2425 toner", "toner", "piece", 8, 2, 2, 21000),
    ("INK-EPSON003", "爱普生 003 墨水 四色套装", "Epson 003 ink, four-colour set", "toner", "set", 10, 2, 1, 16000),
    ("PEN-GEL-BK", "黑色中性笔 0.5mm", "Black gel pen 0.5 mm", "stationery", "stick", 300, 50, 30, 150),
    ("PEN-GEL-RD", "红色中性笔 0.5mm", "Red gel pen 0.5 mm", "stationery", "stick", 100, 20, 20, 150),
    ("MARKER-WB", "黑色白板笔", "Whiteboard marker, black", "stationery", "stick", 60, 10, 10, 300),
    ("STAPLER", "订书机", "Stapler", "stationery", "piece", 25, 5, 1, 1800),
    ("STAPLES", "订书钉 24/6", "Staples 24/6", "stationery", "box", 80, 10, 5, 200),
    ("FOLDER-A4", "A4 文件夹", "A4 document folder", "stationery", "piece", 150, 30, 10, 450),
    ("TAPE-CLEAR", "透明胶带", "Clear tape", "stationery", "roll", 60, 10, 5, 250),
    ("WIPES", "消毒湿巾 80抽", "Disinfecting wipes, 80", "cleaning", "pack", 80, 15, 5, 990),
    ("HAND-SOAP", "洗手液 500ml", "Hand soap 500 ml", "cleaning", "bottle", 40, 10, 2, 1500),
    ("TISSUE", "抽纸 3层100抽", "Facial tissues, 100, 3-ply", "cleaning", "pack", 200, 40, 10, 300),
    ("BIN-BAGS", "大号垃圾袋", "Bin bags, large", "cleaning", "roll", 100, 20, 5, 600),
    ("GLOVES", "橡胶手套", "Rubber gloves", "cleaning", "pair", 50, 10, 2, 500),
    ("BATT-AA", "5 号电池 AA", "AA batteries", "batteries", "cell", 200, 40, 10, 200),
    ("BATT-AAA", "7 号电池 AAA", "AAA batteries", "batteries", "cell", 150, 30, 10, 200),
    ("BATT-9V", "9V 电池", "9 V battery", "batteries", "cell", 20, 5, 2, 1200),
    ("MOUSE-USB", "USB 有线鼠标", "USB wired mouse", "equipment", "piece", 20, 4, 1, 3900),
    ("KEYBOARD-USB", "USB 有线键盘", "USB wired keyboard", "equipment", "piece", 12, 3, 1, 6900),
    ("CALCULATOR", "桌面计算器", "Desktop calculator", "equipment", "unit", 10, 2, 1, 4500),
    ("POWER-STRIP", "插线板 6位 3米", "Power strip, 6 sockets, 3 m", "equipment", "piece", 15, 3, 1, 5900),
    ("USB-DRIVE", "U 盘 32GB", "USB flash drive 32 GB", "equipment", "piece", 20, 5, 1, 3500),
]


async def seed(session: AsyncSession) -> dict[str, int]:
    """Create whatever is missing; returns how many records of each kind were added."""
    added = {"departments": 0, "people": 0, "buildings": 0, "rooms": 0, "supply_items": 0}
    departments: dict[str, Department] = {d.code: d for d in await session.scalars(select(Department))}
    for code, zh, en in DEPARTMENTS:
        if code not in departments:
            departments[code] = Department(code=code, name_zh=zh, name_en=en)
            session.add(departments[code])
            added["departments"] += 1
    await session.flush()

    known = {p.demo_key: p for p in await session.scalars(select(Person).where(Person.demo_key.is_not(None)))}
    for key, name, department, locale, roles in PEOPLE:
        if key in known:
            if known[key].handle is None:  # seeded before people had handles
                known[key].handle = key
            continue
        person = Person(
            display_name=name, locale=locale, department_id=departments[department].id, demo_key=key, handle=key
        )
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

    stocked = set(await session.scalars(select(SupplyItem.code)))
    for code, zh, en, category, unit, on_hand, reorder_at, limit, price in SUPPLIES:
        if code in stocked:
            continue
        item = SupplyItem(
            code=code,
            name_zh=zh,
            name_en=en,
            category=category,
            unit=unit,
            unit_price=price,
            on_hand=on_hand,
            reserved=0,
            reorder_at=reorder_at,
            monthly_limit=limit,
        )
        session.add(item)
        await session.flush()
        # The opening stock is a receipt like any other, so the ledger adds up to what is on hand.
        session.add(StockMovement(item_id=item.id, kind="receipt", on_hand_delta=on_hand, note="opening stock"))
        added["supply_items"] += 1
    await session.flush()
    return added


async def seed_database(url: str) -> dict[str, int]:
    """`seed` the database at `url`, with a connection of its own (the CLI, benchmarks, test set-ups)."""
    db = Database(url)
    try:
        async with db.unit_of_work() as session:
            return await seed(session)
    finally:
        await db.dispose()
