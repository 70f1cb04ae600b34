"""The Alocity surface: routes under API_PREFIX, Bearer auth, and the edge (rate limit, faults, stats)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from alocity_etl.catalog import API_PREFIX, ENDPOINTS

from . import data as d
from . import wire
from .faults import ABSENT, Decision, apply_drift
from .state import (
    SandboxState,
    card_row,
    cloud_key_row,
    cron_row,
    device_row,
    group_row,
    member_row,
    schedule_row,
    settings_row,
    site_row,
    user_row,
)
from .wire import ControlledError

ADMIN_PREFIX = "/_sandbox"


@dataclass
class Ctx:
    query: dict[str, str]
    path: dict[str, str]
    body: Any
    ignore_paging: bool

    def page(self, rows: list[Any]) -> list[Any]:
        offset, size = wire.page_window(self.query, self.ignore_paging)
        return rows[offset : offset + size]


Handler = Callable[[SandboxState, Ctx], Any]
# (endpoint name, method, handler, code for an unreadable body or None for reads)
ROUTES: list[tuple[str, str, Handler, str | None]] = []


def route(name: str, method: str, bad_body: str | None = None) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        ROUTES.append((name, method, fn, bad_body))
        return fn

    return deco


def _long(text: str, code: str, parameter: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ControlledError(code, f"{parameter} must be a number", parameter) from None


def _obj(body: Any, code: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ControlledError(code, "The request body must be a JSON object", "body")
    return body


# --- reads --------------------------------------------------------------------
@route("sites", "GET")
def sites(st: SandboxState, c: Ctx) -> Any:
    return [site_row(s) for s in st.account.sites.values()]


@route("devices", "GET")
def devices(st: SandboxState, c: Ctx) -> Any:
    return [device_row(v) for v in st.account.devices.values()]


@route("device_settings", "GET")
def device_settings(st: SandboxState, c: Ctx) -> Any:
    device = st.account.devices.get(c.path["serialNumber"])
    if device is None:
        raise ControlledError("error_device_not_found", "No device with this serial number", "serialNumber")
    return settings_row(device)


@route("user_page", "GET")
def user_page(st: SandboxState, c: Ctx) -> Any:
    users = list(st.account.users.values())
    term = c.query.get(wire.USER_SEARCH_PARAM, "").strip().lower()
    if term:
        users = [u for u in users if term in u.fullName.lower() or term in u.email.lower()]
    return [user_row(u) for u in c.page(users)]


@route("user", "GET")
def user_get(st: SandboxState, c: Ctx) -> Any:
    user = st.user_or_error(c.path["userId"])
    return {**user_row(user), "cards": [card_row(x) for x in st.account.active_cards(user.id)]}


@route("groups", "GET")
def groups(st: SandboxState, c: Ctx) -> Any:
    counts = wire.parse_bool(c.query.get(wire.INCLUDE_USER_COUNT_PARAM), False)
    return [group_row(g, counts) for g in st.account.groups.values()]


def _group(st: SandboxState, c: Ctx) -> d.Group:
    gid = _long(c.path["groupId"], "error_group_not_found", "groupId")
    group = st.account.groups.get(gid)
    if group is None:
        raise ControlledError("error_group_not_found", "No group with this id", "groupId")
    return group


@route("group_users", "GET")
def group_users(st: SandboxState, c: Ctx) -> Any:
    group = _group(st, c)
    return [member_row(st.account.users[u]) for u in c.page(list(group.members))]


@route("schedules", "GET")
def schedules(st: SandboxState, c: Ctx) -> Any:
    return [schedule_row(s) for s in st.account.schedules.values()]


def _schedule(st: SandboxState, c: Ctx) -> d.Schedule:
    sid = _long(c.path["scheduleId"], "error_schedule_not_found", "scheduleId")
    sched = st.account.schedules.get(sid)
    if sched is None:
        raise ControlledError("error_schedule_not_found", "No schedule with this id", "scheduleId")
    return sched


@route("schedule", "GET")
def schedule_get(st: SandboxState, c: Ctx) -> Any:
    s = _schedule(st, c)
    return {**schedule_row(s), "cronSchedules": [cron_row(x) for x in s.crons]}


@route("schedule_users", "GET")
def schedule_users(st: SandboxState, c: Ctx) -> Any:
    s = _schedule(st, c)
    inside = wire.parse_bool(c.query.get(wire.IN_SCHEDULE_PARAM), True)
    users = [u for u in st.account.users.values() if (u.id in s.users) == inside]
    return [member_row(u) for u in c.page(users)]


def _window(c: Ctx, code: str) -> tuple[Any, Any]:
    out = []
    for name in (wire.WINDOW_FROM_PARAM, wire.WINDOW_TO_PARAM):
        raw = c.query.get(name)
        value = wire.parse_dt(raw) if raw else None
        if raw and value is None:
            raise ControlledError(code, f"{name} is not a valid DateTime", name)
        out.append(value)
    return out[0], out[1]


@route("cloud_keys", "GET")
def cloud_keys(st: SandboxState, c: Ctx) -> Any:
    code = "error_cloud_key_out_of_time_rage"  # sic: the documented wire value
    start, end = _window(c, code)
    if start is not None and end is not None and end <= start:
        raise ControlledError(code, "The To date must be after the From date", "to")
    uid = c.query.get(wire.CLOUD_KEY_USER_PARAM)
    return [
        cloud_key_row(k)
        for k in st.account.cloud_keys.values()
        if k.userId == uid and (end is None or k.validFrom < end) and (start is None or k.expireOn > start)
    ]


@route("access_log_page", "GET")
def access_log_page(st: SandboxState, c: Ctx) -> Any:
    start, end = _window(c, wire.INVALID_WINDOW_CODE)
    lo, hi = st.account.logs.window(
        None if start is None else int(start.timestamp() * 1000),
        None if end is None else int(end.timestamp() * 1000),
        int(st.released.timestamp() * 1000),
    )
    offset, size = wire.page_window(c.query, c.ignore_paging)
    a = min(lo + offset, hi)
    return st.log_rows(a, min(a + size, hi))


# --- writes -------------------------------------------------------------------
@route("user_create", "POST", "error_user_not_created")
def user_create(st: SandboxState, c: Ctx) -> Any:
    return st.create_user(_obj(c.body, "error_user_not_created"))


@route("user", "PUT", "error_user_not_updated")
def user_update(st: SandboxState, c: Ctx) -> Any:
    st.update_user(c.path["userId"], _obj(c.body, "error_user_not_updated"))
    return True


@route("user", "DELETE")
def user_delete(st: SandboxState, c: Ctx) -> Any:
    st.delete_user(c.path["userId"])
    return True


@route("card", "POST", "error_card_not_created")
def card_create(st: SandboxState, c: Ctx) -> Any:
    body = _obj(c.body, "error_card_not_created")
    number, facility = body.get("cardNumber"), body.get("facilityCode")
    for name, value in (("cardNumber", number), ("facilityCode", facility)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ControlledError("error_card_not_created", f"{name} must be a non-negative integer", name)
    user = st.user_or_error(body.get("userId"))
    same = [x for x in st.account.cards.values() if x.cardNumber == number and x.facilityCode == facility]
    if any(x.active for x in same):
        raise ControlledError("error_card_duplicated", "An active card has this number", "cardNumber")
    if any(x.lost_or_stolen for x in same):
        raise ControlledError(
            "error_card_lost_or_stolen", "The card was reported lost or stolen", "cardNumber"
        )
    return st.account.add_card(d.Card(st.account.next_id("card"), number, facility, user.id)).id


@route("card_deactivate", "DELETE")
def card_deactivate(st: SandboxState, c: Ctx) -> Any:
    cid = _long(c.path["cardId"], "error_card_not_found", "cardId")
    card = st.account.cards.get(cid)
    if card is None or not card.active:
        raise ControlledError("error_card_not_found", "No active card with this id", "cardId")
    card.active = False
    return True


@route("cloud_keys", "POST", "error_creating_cloud_key")
def cloud_key_create(st: SandboxState, c: Ctx) -> Any:
    body = _obj(c.body, "error_creating_cloud_key")
    start, end = wire.parse_dt(body.get("validFrom")), wire.parse_dt(body.get("expireOn"))
    flags = {n: body.get(n, False) for n in ("sendByEmail", "sendByText", "useOneTime")}
    for n, v in flags.items():
        if not isinstance(v, bool):
            raise ControlledError("error_creating_cloud_key", f"{n} must be a boolean", n)
    user = st.user_or_error(body.get("userId", wire.EMPTY_GUID))
    if start is None or end is None or end <= st.now() or start > end:
        raise ControlledError(
            "error_invalid_time_scope", "Expiry in the past or validFrom after expiry", "expireOn"
        )
    if not user.firstName or not user.lastName:
        raise ControlledError("error_first_name_and_last_name_required", "The user needs a name", "userId")
    key = d.CloudKey(st.account.next_id("cloud_key"), user.id, start, end, status=1, **flags)
    st.account.cloud_keys[key.id] = key
    return key.id


def _guid_list(body: Any, bad: str, empty: str) -> list[str]:
    if not isinstance(body, list) or not all(isinstance(x, str) for x in body):
        raise ControlledError(bad, "The body must be a JSON array of user ids", "userIds")
    if not body:
        raise ControlledError(empty, "No user id given", "userIds")
    return body


@route("group_users", "POST", "error_group_not_created")
def group_add(st: SandboxState, c: Ctx) -> Any:
    group = _group(st, c)
    ids = _guid_list(c.body, "error_group_not_created", "error_user_not_found")
    for uid in ids:
        st.user_or_error(uid)
        if uid in group.members or ids.count(uid) > 1:
            raise ControlledError("error_user_already_on_group", "The user is already in the group", uid)
    for uid in ids:
        group.members[uid] = None
    return True


@route("schedule_users", "POST", "error_schedule_processing")
def schedule_add(st: SandboxState, c: Ctx) -> Any:
    ids = _guid_list(c.body, "error_schedule_processing", "error_user_required")
    sched = _schedule(st, c)
    for uid in ids:
        st.user_or_error(uid)
        if uid in sched.users or ids.count(uid) > 1:
            raise ControlledError("error_schedule_has_duplicated_entities", "The user is already linked", uid)
    for uid in ids:
        sched.users[uid] = None
    return True


def _cron(st: SandboxState, body: Any, schedule_id: int) -> d.Cron:
    if not isinstance(body, dict) or not body:
        raise ControlledError("error_schedule_is_null", "The cron schedule is empty", "cronSchedule")
    expr = body.get("cron_expression")
    if not isinstance(expr, str) or len(expr.split()) not in (6, 7):
        raise ControlledError(
            "error_cron_invalid_expression", "cron_expression is missing or malformed", "cron_expression"
        )
    duration = body.get("time_duration")
    if not isinstance(duration, int) or isinstance(duration, bool) or duration <= 0:
        raise ControlledError(
            "error_cron_has_no_duration", "time_duration must be a positive integer", "time_duration"
        )
    start = wire.parse_dt(body.get("start")) or st.now()
    end = wire.parse_dt(body.get("end")) if body.get("end") is not None else None
    if (body.get("end") is not None and end is None) or (end is not None and end <= start):
        raise ControlledError("error_cron_invalid_interval", "end must be after start", "end")
    return d.Cron(0, schedule_id, expr, duration, start, end, bool(body.get("activeOnHolidays", False)))


@route("schedule_create", "POST", "error_schedule_is_null")
def schedule_create(st: SandboxState, c: Ctx) -> Any:
    body = c.body
    if not isinstance(body, dict) or not body:
        raise ControlledError("error_schedule_is_null", "The schedule is empty", "schedule")
    site_id = body.get("siteId")
    if not isinstance(site_id, int) or site_id not in st.account.sites:
        raise ControlledError("error_site_not_found", "siteId is missing or unknown", "siteId")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ControlledError("error_schedule_processing", "name is required", "name")
    crons_in = body.get("cronSchedules") or []
    if not isinstance(crons_in, list):
        raise ControlledError("error_schedule_processing", "cronSchedules must be an array", "cronSchedules")
    crons = [_cron(st, x, 0) for x in crons_in]  # validate all before creating anything
    sched = d.Schedule(
        st.account.next_id("schedule"),
        name,
        str(body.get("description") or ""),
        site_id,
        bool(body.get("isAutomatic", False)),
        False,
        False,
        False,
    )
    for cron in crons:
        cron.id, cron.scheduleId = st.account.next_id("cron"), sched.id
        sched.crons.append(cron)
    st.account.schedules[sched.id] = sched
    return {
        k: v
        for k, v in schedule_get(st, Ctx({}, {"scheduleId": str(sched.id)}, None, False)).items()
        if k in ("id", "name", "description", "siteId", "isAutomatic", "cronSchedules")
    }


@route("cron_schedule_create", "POST", "error_schedule_is_null")
def cron_create(st: SandboxState, c: Ctx) -> Any:
    sched = _schedule(st, c)
    cron = _cron(st, c.body, sched.id)
    cron.id = st.account.next_id("cron")
    sched.crons.append(cron)
    return cron.id


@route("token", "POST", "error_accesskey_not_found")
def token(st: SandboxState, c: Ctx) -> Any:
    body = _obj(c.body, "error_accesskey_not_found")
    problem = st.keys.check(body.get(wire.TOKEN_BODY_FIELD), st.now())
    if problem:
        raise ControlledError(problem, "The access key cannot be used", wire.TOKEN_BODY_FIELD)
    st.stats["tokens_issued"] += 1
    return st.tokens.issue(st.now())


# --- HTTP glue ----------------------------------------------------------------
def _authorized(st: SandboxState, request: Request) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, tok = header.partition(" ")
    return scheme.lower() == "bearer" and bool(tok.strip()) and st.tokens.valid(tok.strip(), st.now())


def make_endpoint(
    st: SandboxState, name: str, handler: Handler, bad_body: str | None
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        decision: Decision = request.scope.get("sandbox_fault") or Decision()
        if name != "token" and not _authorized(st, request):
            with st.lock:
                st.stats["responses_401"] += 1
            return Response(status_code=401)
        body: Any = None
        if bad_body is not None:
            raw = await request.body()
            try:
                body = json.loads(raw) if raw.strip() else None
            except (ValueError, UnicodeDecodeError):
                return JSONResponse(wire.error(bad_body, "The request body is not valid JSON", "body"))
        ctx = Ctx(dict(request.query_params), dict(request.path_params), body, decision.ignore_paging)
        try:
            with st.lock:
                envelope = wire.ok(handler(st, ctx))
        except ControlledError as exc:
            envelope = exc.envelope()
        if decision.drifts and envelope["payload"] is not None:
            apply_drift(envelope["payload"], decision)
        if decision.malformed:
            with st.lock:
                st.stats["malformed_injected"] += 1
            text = json.dumps(envelope, ensure_ascii=False)
            return Response(text[: max(1, len(text) // 2)], media_type="application/json")
        return JSONResponse(envelope)

    return endpoint


def api_routes(st: SandboxState) -> list[Route]:
    routes = []
    # user/page must be tried before user/{userId}; ROUTES order follows the decorators above.
    order = sorted(range(len(ROUTES)), key=lambda i: ROUTES[i][0] != "user_page")
    for i in order:
        name, method, handler, bad_body = ROUTES[i]
        routes.append(
            Route(
                f"{API_PREFIX}/{ENDPOINTS[name]}",
                make_endpoint(st, name, handler, bad_body),
                methods=[method],
                name=f"{name}:{method}",
            )
        )
    return routes


def endpoint_matcher() -> Callable[[str], str]:
    """Path -> endpoint name (for stats and per-endpoint faults); 'unknown' if none."""
    compiled = []
    for name in sorted(ENDPOINTS, key=lambda n: n != "user_page"):
        pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(ENDPOINTS[name]))
        compiled.append((name, re.compile(f"^{re.escape(API_PREFIX)}/{pattern}/?$")))

    def match(path: str) -> str:
        return next((name for name, rx in compiled if rx.match(path)), "unknown")

    return match


class Edge:
    """Outermost ASGI layer of the Alocity surface: stats, account rate limit, injected faults.

    It wraps the Starlette app directly so it receives uvicorn's own `send`, which is
    what lets it abort the TCP connection for the connection-reset fault.
    """

    def __init__(self, app: Any, st: SandboxState) -> None:
        self.app, self.st, self.match = app, st, endpoint_matcher()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        st = self.st
        with st.lock:
            st.in_flight += 1
            st.stats["max_in_flight"] = max(st.stats["max_in_flight"], st.in_flight)
        try:
            await self._serve(scope, receive, send)
        finally:
            with st.lock:
                st.in_flight -= 1

    async def _serve(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        st, name = self.st, self.match(scope["path"])
        with st.lock:
            st.stats["requests_total"] += 1
            st.per_endpoint[name] += 1
            st.request_log.append(scope["path"] + "?" + scope.get("query_string", b"").decode("latin-1"))
        retry = st.limiter.acquire() if st.limiter else None
        if retry is not None:
            with st.lock:
                st.stats["rate_limited"] += 1
            await self._plain(send, 429, b"Too Many Requests", {"retry-after": str(retry)})
            return
        dec = st.faults.decide(name)
        with st.lock:
            if dec.revoke_key:
                st.keys.revoke_all()
                st.stats["keys_revoked"] += 1
            if dec.invalidate_token:
                st.tokens.invalidate()
                st.stats["tokens_invalidated"] += 1
        if dec.latency_s > 0:
            await asyncio.sleep(dec.latency_s)
        if dec.reset:
            with st.lock:
                st.stats["resets_injected"] += 1
            await self._reset(scope, receive, send)
            return
        if dec.status_429:
            with st.lock:
                st.stats["burst_429_injected"] += 1
            headers = (
                {}
                if dec.retry_after is ABSENT or dec.retry_after is None
                else {"retry-after": str(dec.retry_after)}
            )
            await self._plain(send, 429, b"Too Many Requests", headers)
            return
        if dec.status_5xx:
            with st.lock:
                st.stats["5xx_injected"] += 1
            await self._plain(send, dec.status_5xx, b"Internal Server Error (injected)", {})
            return
        scope["sandbox_fault"] = dec

        async def counting_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self._count(message["status"])
                message = {**message, "headers": [*message.get("headers", []), self._date()]}
            await send(message)

        await self.app(scope, receive, counting_send)

    def _date(self) -> tuple[bytes, bytes]:
        """The Date header (RFC 9110) on the sandbox's own clock, simulated days included."""
        return b"date", format_datetime(self.st.now(), usegmt=True).encode()

    def _count(self, status: int) -> None:
        with self.st.lock:
            self.st.by_status[str(status)] += 1
            if status == 429:
                self.st.stats["responses_429"] += 1
            if status >= 500:
                self.st.stats["responses_5xx"] += 1

    async def _plain(self, send: Any, status: int, body: bytes, headers: dict[str, str]) -> None:
        self._count(status)
        raw = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
        raw += [(k.encode(), v.encode()) for k, v in headers.items()]
        raw.append(self._date())
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    async def _reset(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Drop the connection with a TCP RST and no response, so the client sees a ConnectionError."""
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if transport is None:  # not uvicorn's send: the best we can do is a started-then-broken response
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise ConnectionAbortedError("injected connection reset")
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # linger 0 turns close() into a RST
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        for _ in range(3):  # let uvicorn see the disconnect, so it does not try to send a 500
            await asyncio.sleep(0)
