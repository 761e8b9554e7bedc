"""WeCom's contact directory (department/list, user/list) as Houqin's neutral Directory: the
departments under the organisation's own, each with its first leader, and their members by UserID.
Members disabled or gone from the company (status 2 or 5) are not listed as members."""

from __future__ import annotations

from bot.channels.wecom.api import WeComAPI
from handlers.core.directory import Directory, DirectoryDepartment, DirectoryMember

# A member's status: 1 active, 2 disabled, 4 not yet active, 5 left the company.
GONE = frozenset({2, 5})


async def read(api: WeComAPI) -> Directory:
    found = await api.departments()
    # The root (parentid 0) is the organisation itself: its direct members have no department.
    roots = {int(d["id"]) for d in found if int(d.get("parentid") or 0) == 0}
    departments = tuple(
        DirectoryDepartment(
            str(d["id"]), str(d.get("name") or d["id"]), next(iter(d.get("department_leader") or []), None)
        )
        for d in found
        if int(d["id"]) not in roots
    )
    members: dict[str, DirectoryMember] = {}
    for department in [*sorted(roots), *(int(d.key) for d in departments)]:
        for user in await api.members(department):
            userid = str(user.get("userid") or "")
            if not userid or userid in members or int(user.get("status") or 1) in GONE:
                continue
            home = int(user.get("main_department") or department)
            members[userid] = DirectoryMember(
                userid, userid, str(user.get("name") or userid), None if home in roots else str(home)
            )
    return Directory(departments, tuple(members.values()))
