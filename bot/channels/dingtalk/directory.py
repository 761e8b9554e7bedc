"""DingTalk's contact directory (the legacy API, the app's 通讯录 read permission) as Houqin's neutral
Directory: departments from the root (1) down, each with its 主管 (leader), and their members by
userId. People who left the organisation are no longer listed."""

from __future__ import annotations

from typing import Any

from bot.channels.dingtalk.api import DingTalkAPI
from handlers.core.directory import Directory, DirectoryDepartment, DirectoryMember

ROOT = 1
PAGE = 100


async def members_of(api: DingTalkAPI, department: int) -> list[dict[str, Any]]:
    """Every person of a department (topapi/v2/user/list, paged by cursor)."""
    people: list[dict[str, Any]] = []
    cursor = 0
    while True:
        answer = await api.legacy("/topapi/v2/user/list", {"dept_id": department, "cursor": cursor, "size": PAGE})
        result = answer.get("result") or {}
        people.extend(p for p in result.get("list") or [] if isinstance(p, dict))
        if not result.get("has_more"):
            return people
        cursor = int(result.get("next_cursor") or 0)


async def read(api: DingTalkAPI) -> Directory:
    found: list[tuple[int, str]] = []
    waiting = [ROOT]
    while waiting:
        parent = waiting.pop(0)
        answer = await api.legacy("/topapi/v2/department/listsub", {"dept_id": parent})
        for item in answer.get("result") or []:
            if isinstance(item, dict) and item.get("dept_id") is not None:
                found.append((int(item["dept_id"]), str(item.get("name") or item["dept_id"])))
                waiting.append(int(item["dept_id"]))
    departments: list[DirectoryDepartment] = []
    members: dict[str, DirectoryMember] = {}
    for department, name in [(ROOT, ""), *found]:
        leader = None
        for person in await members_of(api, department):
            user_id = str(person.get("userid") or "")
            if not user_id:
                continue
            if person.get("leader") and leader is None:
                leader = user_id
            home = str(department) if department != ROOT else None
            if user_id not in members or members[user_id].department is None:
                members[user_id] = DirectoryMember(user_id, user_id, str(person.get("name") or user_id), home)
        if department != ROOT:
            departments.append(DirectoryDepartment(str(department), name, leader))
    return Directory(tuple(departments), tuple(members.values()))
