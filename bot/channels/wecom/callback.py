"""What WeCom sends to /wecom/callback, checked before any work, with wechatpy's enterprise crypto
(wechatpy.enterprise.crypto.WeChatCrypto) rather than crypto of our own.

WeCom signs every request: msg_signature = SHA1 of the sorted token, timestamp, nonce and the
ciphertext. The ciphertext is AES-256-CBC under the app's EncodingAESKey, its plaintext ending with
the corp id it is for. Saving the callback URL, WeCom GETs it with an encrypted `echostr` that must be
answered decrypted; messages and events are POSTed as <xml><ToUserName/><Encrypt/><AgentID/></xml>.
A request with a wrong signature, a timestamp more than five minutes away (a replay), ciphertext
that does not decrypt, or another corp's or app's, changes nothing and is answered with a 4xx.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import xmltodict
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidSignatureException

# A signed request older (or newer) than this is a replay, not WeCom: refused.
WINDOW_SECONDS = 5 * 60


class Refused(Exception):
    """Not from WeCom, or not now, or not for this app: answered with `status`, nothing else happens."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Message:
    """One verified message or event, its XML fields as WeCom names them (MsgType, FromUserName, ...)."""

    fields: dict[str, Any]

    def get(self, name: str) -> str:
        value = self.fields.get(name)
        return "" if value is None or isinstance(value, (dict, list)) else str(value).strip()


class Callback:
    def __init__(self, token: str, encoding_aes_key: str, corp_id: str, agent_id: int) -> None:
        self.crypto = WeChatCrypto(token, encoding_aes_key, corp_id)
        self.corp_id = corp_id
        self.agent_id = str(agent_id)

    def verify_url(self, query: dict[str, str], now: float) -> str:
        """The GET WeCom makes when the callback URL is saved: the decrypted echostr, to answer with."""
        signature, timestamp, nonce, echostr = (
            query.get(k, "") for k in ("msg_signature", "timestamp", "nonce", "echostr")
        )
        self._recent(timestamp, now)
        if not (signature and nonce and echostr):
            raise Refused("unsigned")
        try:
            return str(self.crypto.check_signature(signature, timestamp, nonce, echostr))
        except InvalidSignatureException as exc:
            raise Refused("bad signature") from exc
        except InvalidCorpIdException as exc:
            raise Refused("for another corp") from exc
        except Exception as exc:  # a wrong key gives bad padding, bad UTF-8 or a short plaintext alike
            raise Refused("cannot be decrypted") from exc

    def open(self, query: dict[str, str], body: bytes, now: float) -> Message:
        """A POSTed message or event, once shown to be WeCom's, recent and for this app; else Refused."""
        signature, timestamp, nonce = (query.get(k, "") for k in ("msg_signature", "timestamp", "nonce"))
        if not (signature and nonce):
            raise Refused("unsigned")
        self._recent(timestamp, now)
        outer = _xml(body)
        if not isinstance(outer.get("Encrypt"), str):
            raise Refused("not encrypted")
        try:
            plain = self.crypto.decrypt_message(outer, signature, timestamp, nonce)
        except InvalidSignatureException as exc:
            raise Refused("bad signature") from exc
        except InvalidCorpIdException as exc:
            raise Refused("for another corp") from exc
        except Exception as exc:
            raise Refused("cannot be decrypted") from exc
        message = Message(_xml(str(plain).encode()))
        if message.get("ToUserName") != self.corp_id or Message(outer).get("ToUserName") not in ("", self.corp_id):
            raise Refused("for another corp")
        if {message.get("AgentID"), Message(outer).get("AgentID")} - {"", self.agent_id}:
            raise Refused("for another app", 403)
        return message

    @staticmethod
    def _recent(timestamp: str, now: float) -> None:
        if not timestamp.isdigit():
            raise Refused("unsigned")
        if abs(now - int(timestamp)) > WINDOW_SECONDS:
            raise Refused("stale")


def _xml(content: bytes) -> dict[str, Any]:
    """An <xml> document's fields; xmltodict leaves entities unexpanded (no billion laughs)."""
    try:
        parsed = xmltodict.parse(content, disable_entities=True)
    except Exception as exc:
        raise Refused("not XML", 400) from exc
    root = parsed.get("xml") if isinstance(parsed, dict) else None
    if not isinstance(root, dict):
        raise Refused("not a WeCom message", 400)
    return root
