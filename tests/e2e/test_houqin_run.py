"""The real `houqin` command, as an operator starts it: a separate process, real sockets."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Ticket
from tests.dialog.telegram_person import TelegramPerson
from tests.fakes.telegram_api import FakeBotAPI

HOUQIN = str(Path(sys.executable).with_name("houqin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_houqin(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "HTTP_", "DEMO_"))}
    return subprocess.Popen(
        [HOUQIN, "run", *args], env={**clean, **env}, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def stop(process: subprocess.Popen[bytes]) -> str:
    process.terminate()
    try:
        output, _ = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output.decode(errors="replace")


@pytest.fixture
def demo_server(db: Database, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    started = time.monotonic()
    process = start_houqin({"DATABASE_URL": db.url, "HTTP_PORT": str(port)}, tmp_path, "--demo")
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = started + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail(f"houqin did not serve /healthz within 15 s:\n{stop(process)}")
        yield base
    finally:
        stop(process)


def test_houqin_run_demo_serves_health_and_the_browser_chat(demo_server: str) -> None:
    base = demo_server
    health = httpx.get(f"{base}/healthz").json()
    assert health == {"status": "ok", "database": "ok", "channels": ["web"]}
    page = httpx.get(f"{base}/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    people = httpx.get(f"{base}/api/web/people").json()["people"]
    assert len(people) == 20 and {"admin", "technician", "manager", "logistics_admin"} <= {
        role for p in people for role in p["roles"]
    }


@pytest.fixture
async def polling_houqin(db: Database, bot_api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    env = {
        "DATABASE_URL": db.url,
        "HTTP_PORT": str(free_port()),
        "TELEGRAM_BOT_TOKEN": bot_api.token,
        "TELEGRAM_API_BASE_URL": bot_api.base_url.removesuffix("/bot"),
        "TELEGRAM_MODE": "polling",
        "ACCESS_POLICY": "open",
    }
    process = start_houqin(env, tmp_path)
    try:
        await bot_api.wait_for(
            lambda: bool(bot_api.calls_to("getUpdates")), timeout=40
        )  # a loaded CI machine starts slowly
        yield process
    finally:
        output = await asyncio.to_thread(stop, process)
        assert "Traceback" not in output, output


async def test_houqin_run_in_polling_mode_answers_start_and_completes_a_repair(
    db: Database, bot_api: FakeBotAPI, polling_houqin: subprocess.Popen[bytes]
) -> None:
    ming = TelegramPerson(bot_api, db, bot_api.user(4001, "明"))
    assert "你好，明！" in await ming.says("/start")
    await ming.presses("报修")
    await ming.presses("空调暖通")
    await ming.presses("行政楼")
    await ming.presses("305 财务处办公室")
    await ming.says("空调不制冷，室内三十度")
    await ming.presses("跳过")
    await ming.presses("紧急")
    done = await ming.presses("✔ 提交")
    number = re.search(r"R-\d{4}-\d{6}", done.text)
    assert number is not None
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number.group()))
    assert ticket is not None and ticket.category == "hvac"
