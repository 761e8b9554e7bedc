"""Feishu's contact directory (contact v3, the app's contact scope) as Houqin's neutral Directory:
departments from the root down, each with its leader, and their members, by open_id."""

from __future__ import annotations

from typing import Any

from bot.channels.feishu.api import FeishuAPI, segment
from handlers.core.directory import Directory, DirectoryDepartment, DirectoryMember

ROOT = "0"
PAGE = "50"


async def pages(api: FeishuAPI, path: str, queries: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Every item of a paged contact list."""
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        page = [*queries, ("page_size", PAGE), *([("page_token", token)] if token else [])]
        data = await api.call("GET", path, queries=page)
        items.extend(item for item in data.get("items") or [] if isinstance(item, dict))
        token = str(data.get("page_token") or "")
        if not data.get("has_more") or not token:
            return items


async def read(api: FeishuAPI) -> Directory:
    ids = [("user_id_type", "open_id"), ("department_id_type", "open_department_id")]
    departments: list[DirectoryDepartment] = []
    waiting = [ROOT]
    while waiting:
        parent = waiting.pop(0)
        for item in await pages(api, f"/open-apis/contact/v3/departments/{segment(parent)}/children", ids):
            key = str(item.get("open_department_id") or "")
            if not key:
                continue
            leader = str(item.get("leader_user_id") or "") or None
            departments.append(DirectoryDepartment(key, str(item.get("name") or key), leader))
            waiting.append(key)
    members: dict[str, DirectoryMember] = {}
    for department in [ROOT, *(d.key for d in departments)]:
        found = await pages(
            api, "/open-apis/contact/v3/users/find_by_department", [*ids, ("department_id", department)]
        )
        for user in found:
            open_id = str(user.get("open_id") or "")
            status = user.get("status") or {}
            if not open_id or open_id in members or status.get("is_resigned"):
                continue
            home = department if department != ROOT else None
            members[open_id] = DirectoryMember(open_id, open_id, str(user.get("name") or open_id), home)
    return Directory(tuple(departments), tuple(members.values()))
