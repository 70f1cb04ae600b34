"""Admin interface under /_sandbox/ (not part of the Alocity surface) and its small HTTP client.

No Bearer token, not rate limited, not counted in stats. Endpoints:
  GET  clock                      {"now": iso, "day": simulated days, "start": iso}
  POST clock                      {"now": iso} sets the clock, {"advance_seconds": n} moves it
  POST simulate                   {"days": n, "hours": h, "late_per_day": k, "late_days_back": b}: let
                                  n days and h hours happen (the clock moves with them; hours show
                                  a day so far); each whole day, k events back-dated b days arrive
  POST late-uploads               {"count": k, "days_back": b}: k events arrive now, back-dated into
                                  the day b days before today's (an offline controller's buffer)
  GET  late-uploads               every back-dated event so far, with its uploadedAt
  GET  ground-truth               ?day=K (0 = initial; absent = now) &table=NAME &from=&to= (access_logs)
  GET  faults                     current rules {endpoint: spec}
  PUT  faults                     {"endpoint": "*"|name, "seed": n, ...spec} replaces that endpoint's rule;
                                  or {"rules": {endpoint: spec, ...}, "seed": n}
  DELETE faults                   clears every rule
  GET  keys                       access keys as the portal lists them
  POST keys/reissue               deactivates every key, returns {"accessKey": new}
  POST keys/revoke                deactivates every key
  POST tokens/invalidate          kills the live JWT
  GET  tokens                     every JWT issued so far (to prove none leaks anywhere)
  GET  stats / POST stats/reset   request counters (reset also empties the rate-limit window)
  GET  requests                   "path?query" of every Alocity request since the last stats reset
  GET  info                       preset, seed, rate limit, token lifetime, clock
A multi-account sandbox (tenants.py) also serves GET /_sandbox/accounts ([{"name", "accessKey"}])
and every path above under /_sandbox/accounts/<name>/ for that account; the plain paths act on
its first account.
Errors: HTTP 400 (bad input) or 404 (unknown day/table) with {"error": message}.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .api import ADMIN_PREFIX
from .config import as_utc
from .state import SandboxState
from .wire import parse_dt


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json(request: Request) -> Any:
    raw = await request.body()
    return json.loads(raw) if raw.strip() else {}


def admin_routes(st: SandboxState) -> list[Route]:
    def clock_body() -> dict[str, Any]:
        return {
            "now": st.now().isoformat(),
            "day": st.sim_day,
            "start": st.start.isoformat(),
            "released": st.released.isoformat(),  # events before this have happened
        }

    async def clock(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                body = await _json(request)
                if "now" in body:
                    when = parse_dt(body["now"])
                    if when is None:
                        return _bad("now must be an ISO-8601 datetime")
                    st.set_clock(when)
                if "advance_seconds" in body:
                    st.advance(float(body["advance_seconds"]))
            except (ValueError, TypeError, AttributeError) as exc:
                return _bad(f"body must be {{'now': iso}} or {{'advance_seconds': n}}: {exc}")
        return JSONResponse(clock_body())

    async def simulate(request: Request) -> JSONResponse:
        try:
            body = await _json(request)
            days = int(body.get("days", 0 if "hours" in body else 1))
            hours = float(body.get("hours", 0))
            late = int(body.get("late_per_day", 0))
            back = int(body.get("late_days_back", 2))
        except (ValueError, TypeError, AttributeError):
            return _bad("body must be {'days': n, 'hours': h, 'late_per_day': k, 'late_days_back': b}")
        if days < 0 or hours < 0 or late < 0 or back < 1:
            return _bad("days, hours and late_per_day must be >= 0, late_days_back >= 1")
        st.simulate(days, hours=hours, late_per_day=late, late_days_back=back)
        return JSONResponse(clock_body())

    async def late_uploads(request: Request) -> JSONResponse:
        if request.method == "GET":
            with st.lock:
                return JSONResponse(list(st.late_uploads))
        try:
            body = await _json(request)
            count, back = int(body["count"]), int(body.get("days_back", 2))
        except (ValueError, TypeError, AttributeError, KeyError):
            return _bad("body must be {'count': k, 'days_back': b}")
        if count < 0 or back < 1:
            return _bad("count must be >= 0 and days_back >= 1")
        return JSONResponse(st.upload_late(count, back))

    async def ground_truth(request: Request) -> JSONResponse:
        q = request.query_params
        try:
            day = int(q["day"]) if q.get("day") not in (None, "") else None
            bounds = {}
            for name, key in (("from", "from_"), ("to", "to")):
                if q.get(name):
                    bounds[key] = parse_dt(q[name])
                    if bounds[key] is None:
                        return _bad(f"{name} must be an ISO-8601 datetime")
            return JSONResponse(st.ground_truth(day=day, table=q.get("table") or None, **bounds))
        except ValueError:
            return _bad("day must be an integer")
        except KeyError as exc:
            return _bad(str(exc.args[0]), 404)

    async def faults(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            st.faults.clear()
        elif request.method == "PUT":
            try:
                body = await _json(request)
                seed = body.pop("seed", None)
                if "rules" in body:
                    for endpoint, spec in body["rules"].items():
                        st.faults.set(endpoint, spec, seed)
                else:
                    st.faults.set(body.pop("endpoint", "*"), body, seed)
            except (ValueError, TypeError, AttributeError) as exc:
                return _bad(str(exc))
        return JSONResponse(st.faults.snapshot())

    async def keys(request: Request) -> JSONResponse:
        with st.lock:
            return JSONResponse([k.to_dict(st.now()) for k in st.keys.keys])

    async def reissue(request: Request) -> JSONResponse:
        with st.lock:
            return JSONResponse({"accessKey": st.keys.reissue(st.now())})

    async def revoke(request: Request) -> JSONResponse:
        with st.lock:
            st.keys.revoke_all()
        return JSONResponse({"revoked": True})

    async def invalidate(request: Request) -> JSONResponse:
        with st.lock:
            st.tokens.invalidate()
        return JSONResponse({"invalidated": True})

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(st.stats_dict())

    async def reset_stats(request: Request) -> JSONResponse:
        st.reset_stats()
        if st.limiter:
            st.limiter.reset()
        return JSONResponse(st.stats_dict())

    async def issued_tokens(request: Request) -> JSONResponse:
        with st.lock:
            return JSONResponse(list(st.tokens.issued))

    async def requests_log(request: Request) -> JSONResponse:
        with st.lock:
            return JSONResponse(list(st.request_log))

    async def info(request: Request) -> JSONResponse:
        c = st.config
        return JSONResponse(
            {
                "preset": c.preset,
                "seed": c.seed,
                "rate_limit": c.rate_limit,
                "token_lifetime_s": c.token_lifetime_s,
                **clock_body(),
            }
        )

    p = ADMIN_PREFIX
    return [
        Route(f"{p}/clock", clock, methods=["GET", "POST"]),
        Route(f"{p}/simulate", simulate, methods=["POST"]),
        Route(f"{p}/late-uploads", late_uploads, methods=["GET", "POST"]),
        Route(f"{p}/ground-truth", ground_truth, methods=["GET"]),
        Route(f"{p}/faults", faults, methods=["GET", "PUT", "DELETE"]),
        Route(f"{p}/keys", keys, methods=["GET"]),
        Route(f"{p}/keys/reissue", reissue, methods=["POST"]),
        Route(f"{p}/keys/revoke", revoke, methods=["POST"]),
        Route(f"{p}/tokens/invalidate", invalidate, methods=["POST"]),
        Route(f"{p}/stats", stats, methods=["GET"]),
        Route(f"{p}/stats/reset", reset_stats, methods=["POST"]),
        Route(f"{p}/requests", requests_log, methods=["GET"]),
        Route(f"{p}/tokens", issued_tokens, methods=["GET"]),
        Route(f"{p}/info", info, methods=["GET"]),
    ]


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


class SandboxAdmin:
    """requests-based client of /_sandbox/ (what tests and other components use).

    `account`: act on that account of a multi-account sandbox (/_sandbox/accounts/<name>/...);
    None acts on a single sandbox, or on the first account of a multi-account one.
    """

    def __init__(self, base_url: str, timeout: float = 60.0, *, account: str | None = None) -> None:
        self.root = base_url.rstrip("/") + ADMIN_PREFIX
        self.account = account
        self.url = self.root if account is None else f"{self.root}/accounts/{quote(account, safe='')}"
        self.timeout = timeout
        self.session = requests.Session()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        return self._request(method, f"{self.url}/{path}", path, **kw)

    def _request(self, method: str, url: str, what: str, **kw: Any) -> Any:
        r = self.session.request(method, url, timeout=self.timeout, **kw)
        if r.status_code >= 400:
            where = f" (account {self.account})" if self.account else ""
            raise RuntimeError(f"sandbox admin {method} {what}{where}: HTTP {r.status_code}: {r.text}")
        return r.json()

    def accounts(self) -> list[dict[str, str]]:
        """Every account of a multi-account sandbox, in order: [{"name": ..., "accessKey": ...}]."""
        return self._request("GET", f"{self.root}/accounts", "accounts")

    def ground_truth(self, day: int | None = None, table: str | None = None, **filters: Any) -> dict | list:
        """filters: from_/to (or 'from') bound access_logs, datetimes or ISO strings."""
        params: dict[str, Any] = {}
        if day is not None:
            params["day"] = day
        if table:
            params["table"] = table
        for key, value in filters.items():
            params[key.rstrip("_")] = _iso(value)
        return self._call("GET", "ground-truth", params=params)

    def simulate(
        self, days: int = 1, hours: float = 0, late_per_day: int = 0, late_days_back: int = 2
    ) -> dict[str, Any]:
        body = {"days": days, "hours": hours, "late_per_day": late_per_day, "late_days_back": late_days_back}
        return self._call("POST", "simulate", json=body)

    def upload_late(self, count: int, days_back: int = 2) -> list[dict[str, Any]]:
        """`count` events arrive now, back-dated into the day `days_back` days before today's."""
        return self._call("POST", "late-uploads", json={"count": count, "days_back": days_back})

    def late_uploads(self) -> list[dict[str, Any]]:
        """Every back-dated event uploaded so far (wire format plus uploadedAt)."""
        return self._call("GET", "late-uploads")

    def released(self) -> datetime:
        """Events created before this have happened (the simulation's watermark)."""
        return as_utc(self._call("GET", "clock")["released"])  # type: ignore[return-value]

    def clock(self) -> datetime:
        return as_utc(self._call("GET", "clock")["now"])  # type: ignore[return-value]

    def set_clock(self, dt: datetime | str) -> datetime:
        return as_utc(self._call("POST", "clock", json={"now": _iso(as_utc(dt))})["now"])  # type: ignore

    def advance(self, seconds: float) -> datetime:
        return as_utc(self._call("POST", "clock", json={"advance_seconds": seconds})["now"])  # type: ignore

    def set_faults(self, endpoint: str = "*", seed: int | None = None, **spec: Any) -> dict[str, Any]:
        """Replace the fault rule of one endpoint ('*' = all), e.g. set_faults(error_rate=0.5)."""
        body: dict[str, Any] = {"endpoint": endpoint, **spec}
        if seed is not None:
            body["seed"] = seed
        return self._call("PUT", "faults", json=body)

    def clear_faults(self) -> dict[str, Any]:
        return self._call("DELETE", "faults")

    def faults(self) -> dict[str, Any]:
        return self._call("GET", "faults")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "stats")

    def reset_stats(self) -> dict[str, Any]:
        return self._call("POST", "stats/reset")

    def requests(self) -> list[str]:
        """Every Alocity request (path?query) since the last stats reset, in arrival order."""
        return self._call("GET", "requests")

    def tokens(self) -> list[str]:
        """Every JWT the sandbox has issued."""
        return self._call("GET", "tokens")

    def keys(self) -> list[dict[str, Any]]:
        return self._call("GET", "keys")

    def reissue(self) -> str:
        return self._call("POST", "keys/reissue")["accessKey"]

    def revoke(self) -> None:
        self._call("POST", "keys/revoke")

    def invalidate_tokens(self) -> None:
        self._call("POST", "tokens/invalidate")

    def info(self) -> dict[str, Any]:
        return self._call("GET", "info")

    def close(self) -> None:
        self.session.close()
