"""The server's own key, for what must be counted or routed without naming anyone.

Two uses: an anonymous survey counts each person once by a keyed one-way token, and an anonymous
suggester is reached through their person id sealed with the key. Both need a key that no admin
view shows. It comes from SURVEY_SECRET when that is set (keep it outside the database: then a copy
of the database alone opens nothing), else it is generated on first use and kept in
``service_secrets``, so a fresh install is anonymous without any setup.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ServiceSecret

NAME = "survey_secret"
# Set once at start-up from SURVEY_SECRET (bot/service.py); None means "the one in the database".
_configured: bytes | None = None


def configure(secret: str | None) -> None:
    global _configured
    _configured = secret.encode() if secret else None


async def server_key(session: AsyncSession) -> bytes:
    if _configured is not None:
        return _configured
    stored = await session.scalar(select(ServiceSecret.value).where(ServiceSecret.name == NAME))
    if stored is not None:
        return stored.encode()
    try:
        # Two processes may both generate one at first use: whoever inserts second reads the first's.
        async with session.begin_nested():
            session.add(ServiceSecret(name=NAME, value=secrets.token_hex(32)))
    except IntegrityError:
        pass
    stored = await session.scalar(select(ServiceSecret.value).where(ServiceSecret.name == NAME))
    assert stored is not None
    return stored.encode()


@functools.lru_cache(maxsize=32)  # the server key and a handful of purposes; one HMAC fewer per update
def derive(key: bytes, purpose: str) -> bytes:
    """A separate key per purpose, so a token can never be mistaken for a seal or the other way round."""
    return hmac.new(key, purpose.encode(), hashlib.sha256).digest()


def token(key: bytes, *parts: str | int) -> str:
    """A keyed one-way token: the same parts give the same token; the token gives nothing back."""
    message = "\x1f".join(str(part) for part in parts).encode()
    return hmac.new(derive(key, "token"), message, hashlib.sha256).hexdigest()


# Sealing a person id: HMAC-SHA256 as a pseudo-random function in counter mode (encryption) then as
# a MAC over nonce and ciphertext (encrypt-then-MAC). The standard library has no AES, and this
# construction needs nothing else: the random nonce makes two seals of one id look unrelated, and the
# tag refuses anything not sealed by this key.
NONCE, TAG = 12, 16


def seal(key: bytes, value: int) -> str:
    nonce = secrets.token_bytes(NONCE)
    plain = value.to_bytes(8, "big", signed=True)
    stream = hmac.new(derive(key, "seal"), nonce, hashlib.sha256).digest()[: len(plain)]
    sealed = bytes(a ^ b for a, b in zip(plain, stream, strict=True))
    tag = hmac.new(derive(key, "seal-mac"), nonce + sealed, hashlib.sha256).digest()[:TAG]
    return base64.urlsafe_b64encode(nonce + sealed + tag).decode()


def unseal(key: bytes, text: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(text.encode())
    except ValueError:
        return None
    if len(raw) != NONCE + 8 + TAG:
        return None
    nonce, sealed, tag = raw[:NONCE], raw[NONCE:-TAG], raw[-TAG:]
    expected = hmac.new(derive(key, "seal-mac"), nonce + sealed, hashlib.sha256).digest()[:TAG]
    if not hmac.compare_digest(tag, expected):
        return None
    stream = hmac.new(derive(key, "seal"), nonce, hashlib.sha256).digest()[: len(sealed)]
    return int.from_bytes(bytes(a ^ b for a, b in zip(sealed, stream, strict=True)), "big", signed=True)
