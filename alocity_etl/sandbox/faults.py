"""Fault injection, per endpoint (a key of catalog.ENDPOINTS) or for every endpoint ("*").

Spec keys (all optional):
  error_rate: float        probability of an injected 5xx
  error_status: int        the 5xx status to send (default 500)
  latency_s: float         added delay before answering
  latency_rate: float      probability that a request gets latency_s (default 1: every request)
  reset_rate: float        probability of closing the connection without a response
  reset_next: int          the next N requests are reset
  malformed_rate: float    probability of a truncated (invalid) JSON body with HTTP 200
  malformed_next: int      the next N responses are truncated JSON
  burst_429: int           the next N requests get HTTP 429
  retry_after: int | None  Retry-After of those 429s (default 1; null = header absent; 0 allowed)
  invalidate_token_after: int  after N more requests the live JWT is killed (another client logged in)
  invalidate_token_always: bool  every request kills the live JWT first (a 401 even after a fresh login)
  revoke_key_after: int    after N more requests every access key is deactivated
  add_field: {name: value} extra field on every item of the payload
  drop_field: [name, ...]  fields removed from every item
  change_type: [name, ...] fields whose value changes type (number/bool -> string, string -> number)
  ignore_paging: bool      every page request returns page 1
An endpoint's own rule wins over "*" key by key. Probabilities use an RNG seeded
with the run's seed (PUT body "seed", default the sandbox seed).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

SPEC_TYPES: dict[str, tuple[type, ...]] = {
    "error_rate": (int, float),
    "error_status": (int,),
    "latency_s": (int, float),
    "latency_rate": (int, float),
    "reset_rate": (int, float),
    "reset_next": (int,),
    "malformed_rate": (int, float),
    "malformed_next": (int,),
    "burst_429": (int,),
    "retry_after": (int, type(None)),
    "invalidate_token_after": (int,),
    "invalidate_token_always": (bool,),
    "revoke_key_after": (int,),
    "add_field": (dict,),
    "drop_field": (list, str),
    "change_type": (list, str),
    "ignore_paging": (bool,),
}
COUNTERS = ("reset_next", "malformed_next", "burst_429", "invalidate_token_after", "revoke_key_after")
ABSENT = object()


def validate_spec(spec: dict[str, Any]) -> None:
    for key, value in spec.items():
        if key not in SPEC_TYPES:
            raise ValueError(f"unknown fault key {key!r}; known: {', '.join(SPEC_TYPES)}")
        types = SPEC_TYPES[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ValueError(
                f"fault key {key!r} needs {' or '.join(t.__name__ for t in types)}, got {value!r}"
            )


@dataclass
class Decision:
    """What to do to one request."""

    latency_s: float = 0.0
    reset: bool = False
    status_5xx: int | None = None
    status_429: bool = False
    retry_after: Any = ABSENT
    invalidate_token: bool = False
    revoke_key: bool = False
    malformed: bool = False
    ignore_paging: bool = False
    add_field: dict[str, Any] = field(default_factory=dict)
    drop_field: list[str] = field(default_factory=list)
    change_type: list[str] = field(default_factory=list)

    @property
    def drifts(self) -> bool:
        return bool(self.add_field or self.drop_field or self.change_type)


class Faults:
    def __init__(self, seed: int, endpoints: set[str]) -> None:
        self.endpoints = endpoints | {"*"}
        self.rules: dict[str, dict[str, Any]] = {}
        self._rng = random.Random(seed)
        self._seed = seed
        self._lock = threading.Lock()

    def set(self, endpoint: str, spec: dict[str, Any], seed: int | None = None) -> None:
        """Replace the rule of one endpoint (an empty spec removes it)."""
        if endpoint not in self.endpoints:
            raise ValueError(
                f"unknown endpoint {endpoint!r}; use '*' or one of {', '.join(sorted(self.endpoints))}"
            )
        validate_spec(spec)
        with self._lock:
            if spec:
                self.rules[endpoint] = dict(spec)
            else:
                self.rules.pop(endpoint, None)
            if seed is not None:
                self._rng = random.Random(seed)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self._rng = random.Random(self._seed)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self.rules.items()}

    def _take(self, endpoint: str, key: str) -> tuple[dict[str, Any] | None, Any]:
        for name in (endpoint, "*"):
            rule = self.rules.get(name)
            if rule is not None and key in rule:
                return rule, rule[key]
        return None, None

    def _count(self, endpoint: str, key: str, fire_at_zero: bool) -> bool:
        """Decrement a counter. `fire_at_zero`: fire once when it has already run down (the 'after N')."""
        rule, value = self._take(endpoint, key)
        if rule is None:
            return False
        if fire_at_zero:
            if value <= 0:
                del rule[key]
                return True
            rule[key] = value - 1
            return False
        if value <= 0:
            del rule[key]
            return False
        rule[key] = value - 1
        return True

    def decide(self, endpoint: str) -> Decision:
        d = Decision()
        with self._lock:
            if not self.rules:
                return d
            d.invalidate_token = self._count(endpoint, "invalidate_token_after", fire_at_zero=True)
            if self._take(endpoint, "invalidate_token_always")[1]:
                d.invalidate_token = True
            d.revoke_key = self._count(endpoint, "revoke_key_after", fire_at_zero=True)
            d.latency_s = float(self._take(endpoint, "latency_s")[1] or 0.0)
            rate = self._take(endpoint, "latency_rate")[1]
            if d.latency_s and rate is not None and self._rng.random() >= rate:
                d.latency_s = 0.0
            rate = self._take(endpoint, "reset_rate")[1]
            d.reset = self._count(endpoint, "reset_next", False) or bool(rate and self._rng.random() < rate)
            if not d.reset and self._count(endpoint, "burst_429", False):
                d.status_429 = True
                rule, value = self._take(endpoint, "retry_after")
                d.retry_after = 1 if rule is None else value
            rate = self._take(endpoint, "error_rate")[1]
            if not (d.reset or d.status_429) and rate and self._rng.random() < rate:
                d.status_5xx = int(self._take(endpoint, "error_status")[1] or 500)
            rate = self._take(endpoint, "malformed_rate")[1]
            d.malformed = self._count(endpoint, "malformed_next", False) or bool(
                rate and self._rng.random() < rate
            )
            d.ignore_paging = bool(self._take(endpoint, "ignore_paging")[1])
            d.add_field = dict(self._take(endpoint, "add_field")[1] or {})
            drop = self._take(endpoint, "drop_field")[1] or []
            d.drop_field = [drop] if isinstance(drop, str) else list(drop)
            change = self._take(endpoint, "change_type")[1] or []
            d.change_type = [change] if isinstance(change, str) else list(change)
        return d


def _retype(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return len(value)
    return value if value is None else str(value)


def apply_drift(payload: Any, d: Decision) -> Any:
    """Schema drift on the items of a list payload, or on a single-object payload."""
    items = payload if isinstance(payload, list) else [payload]
    for item in items:
        if not isinstance(item, dict):
            continue
        item.update(d.add_field)
        for name in d.drop_field:
            item.pop(name, None)
        for name in d.change_type:
            if name in item:
                item[name] = _retype(item[name])
    return payload
