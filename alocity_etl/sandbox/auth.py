"""Access keys (portal-managed, 1-year life, renewal near expiry) and the one live JWT."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

KEY_LIFETIME = timedelta(days=365)  # DOC: a key expires one year after creation
RENEWAL_WINDOW = timedelta(days=30)  # brief: use within 30 days of expiry -> a new key appears


@dataclass
class AccessKey:
    key: str
    created_at: datetime
    active: bool = True
    origin: str = "initial"  # initial | renewal | reissue

    @property
    def expires_at(self) -> datetime:
        return self.created_at + KEY_LIFETIME

    def usable(self, now: datetime) -> bool:
        return self.active and now < self.expires_at

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "accessKey": self.key,
            "createdAt": self.created_at.isoformat(),
            "expiresAt": self.expires_at.isoformat(),
            "active": self.active,
            "usable": self.usable(now),
            "origin": self.origin,
        }


def new_key_string() -> str:
    return "alk_" + secrets.token_urlsafe(24)


class KeyStore:
    """The account's access keys, as the portal's Integration card would list them."""

    def __init__(self, key: str | None, created_at: datetime) -> None:
        self.keys: list[AccessKey] = [AccessKey(key or new_key_string(), created_at)]

    def current(self, now: datetime) -> str:
        """The newest usable key (what a person would copy from the portal)."""
        usable = [k for k in self.keys if k.usable(now)]
        return (usable or self.keys)[-1].key

    def find(self, key: Any) -> AccessKey | None:
        """The key as the portal lists it (active or not), or None if the account never had it."""
        if not isinstance(key, str):
            return None
        # Bytes: compare_digest refuses non-ASCII str, and a client may send anything.
        sent = key.encode()
        return next((k for k in self.keys if secrets.compare_digest(k.key.encode(), sent)), None)

    def check(self, key: Any, now: datetime) -> str | None:
        """None if the key may mint a token, else the controlled error code."""
        found = self.find(key)
        if found is None:
            return "error_accesskey_not_found"
        if not found.usable(now):
            return "error_accesskey_is_inactive"
        if now >= found.expires_at - RENEWAL_WINDOW and not any(
            k.created_at > found.created_at and k.usable(now) for k in self.keys
        ):
            # The old key keeps working until it expires; the new one shows up in the portal.
            self.keys.append(AccessKey(new_key_string(), now, origin="renewal"))
        return None

    def reissue(self, now: datetime) -> str:
        for k in self.keys:
            k.active = False
        self.keys.append(AccessKey(new_key_string(), now, origin="reissue"))
        return self.keys[-1].key

    def revoke_all(self) -> None:
        for k in self.keys:
            k.active = False


class TokenIssuer:
    """HS256 JWTs with a per-process random secret; only the newest token is valid."""

    def __init__(self, lifetime_s: int, api_user_id: str) -> None:
        self.lifetime_s = int(lifetime_s)
        self._secret = secrets.token_bytes(32)
        self._current_jti: str | None = None
        self.api_user_id = api_user_id
        self.issued: list[str] = []  # every JWT minted, for secret-hygiene tests (admin GET tokens)

    def issue(self, now: datetime) -> str:
        self._current_jti = uuid.uuid4().hex  # supersedes the previous token
        iat = int(now.timestamp())
        claims = {
            "sub": self.api_user_id,
            "iat": iat,
            "nbf": iat,
            "exp": iat + self.lifetime_s,
            "jti": self._current_jti,
            "iss": "alocity-sandbox",
        }
        token = jwt.encode(claims, self._secret, algorithm="HS256")
        self.issued.append(token)
        return token

    def _claims(self, token: str) -> dict[str, Any] | None:
        """The claims if this issuer signed the token (live or not), else None."""
        try:
            # exp is checked against the sandbox clock, not the wall clock (see valid).
            return jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            return None

    def signed(self, token: str) -> bool:
        """True if this issuer minted the token, even a superseded or expired one: the
        multi-account router sends it to its own account, which answers 401 if it is stale."""
        return self._claims(token) is not None

    def valid(self, token: str, now: datetime) -> bool:
        claims = self._claims(token)
        if claims is None:
            return False
        return claims.get("jti") == self._current_jti and int(claims.get("exp", 0)) > now.timestamp()

    def invalidate(self) -> None:
        self._current_jti = None
