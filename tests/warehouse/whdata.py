"""Helpers for warehouse tests: realistic wire items and pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def page(body: Any, endpoint: str | None = None, parent_key: Any = None, **kw: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"body": body, "params": kw.pop("params", {}), "fetched_at": T0, **kw}
    if endpoint:
        p["endpoint"] = endpoint
    if parent_key is not None:
        p["parent_key"] = parent_key
    return p


def user(i: int, **over: Any) -> dict[str, Any]:
    u = {
        "id": f"3F2504E0-4F89-11D3-9A0C-0305E82C{i:04X}",
        "email": f"user{i}@example.com",
        "firstName": f"First{i}",
        "lastName": f"Last{i}",
        "fullName": f"First{i} Last{i}",
        "localeISO2": "en",
        "mobileCredential": None,
        "phoneNumber": "",
        "hasEnrolledFace": i % 2 == 0,
        "createdAt": "2024-05-01T13:00:00.123Z",
    }
    u.update(over)
    return u
