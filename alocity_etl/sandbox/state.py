"""Sandbox state: the account, the clock, simulated days, history snapshots and ground truth.

Rendering to wire dicts lives here too, so the API and the ground truth can never
disagree about what a row looks like.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from alocity_etl.catalog import ENDPOINTS

from . import data as d
from .auth import KeyStore, TokenIssuer
from .config import SandboxConfig
from .faults import Faults
from .ratelimit import SlidingWindowLimiter
from .wire import EMPTY_GUID, LOCALES, ControlledError, fmt_dt

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()\-]{5,23}$")
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
STAT_KEYS = (
    "requests_total",  # Alocity-surface requests (admin excluded), counted before the rate limit
    "rate_limited",  # 429s sent by the account rate limiter
    "responses_429",  # every 429 (rate limiter and injected bursts)
    "responses_401",
    "responses_5xx",  # every 5xx (injected or not)
    "tokens_issued",
    "5xx_injected",
    "resets_injected",
    "burst_429_injected",
    "malformed_injected",
    "tokens_invalidated",  # by the invalidate_token_after fault
    "keys_revoked",  # by the revoke_key_after fault
    "max_in_flight",  # most Alocity-surface requests being answered at the same moment
    "late_uploads",  # events uploaded back-dated (simulate's late_per_day, admin late-uploads)
)
TABLES = (
    "sites",
    "devices",
    "device_access_settings",
    "users",
    "cards",
    "groups",
    "group_members",
    "schedules",
    "cron_schedules",
    "schedule_users",
    "cloud_keys",
    "access_logs",
)


# --- wire rendering ----------------------------------------------------------
def site_row(s: d.Site) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "timeZone": s.timeZone,
        "address": s.address,
        "createdAt": fmt_dt(s.createdAt),
    }


def device_row(v: d.Device) -> dict[str, Any]:
    return {
        "serialNumber": v.serialNumber,
        "name": v.name,
        "siteId": v.siteId,
        "model": v.model,
        "firmwareVersion": v.firmwareVersion,
        "isOnline": v.isOnline,
        "lastSeenAt": fmt_dt(v.lastSeenAt),
        "createdAt": fmt_dt(v.createdAt),
    }


def settings_row(v: d.Device) -> dict[str, Any]:
    return {**v.settings, "serialNumber": v.serialNumber}


def user_row(u: d.User) -> dict[str, Any]:
    return {
        "id": u.id,
        "email": u.email,
        "firstName": u.firstName,
        "lastName": u.lastName,
        "fullName": u.fullName,
        "localeISO2": u.localeISO2,
        "mobileCredential": u.mobileCredential,
        "phoneNumber": u.phoneNumber,
        "hasEnrolledFace": u.hasEnrolledFace,
        "createdAt": fmt_dt(u.createdAt),
    }


def member_row(u: d.User) -> dict[str, Any]:
    return {
        "id": u.id,
        "email": u.email,
        "firstName": u.firstName,
        "lastName": u.lastName,
        "fullName": u.fullName,
    }


def card_row(c: d.Card) -> dict[str, Any]:
    return {"id": c.id, "cardNumber": c.cardNumber, "facilityCode": c.facilityCode, "userId": c.userId}


def group_row(g: d.Group, with_count: bool) -> dict[str, Any]:
    return {
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "userCount": len(g.members) if with_count else None,
    }


def schedule_row(s: d.Schedule) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "siteId": s.siteId,
        "isAutomatic": s.isAutomatic,
        "hasCronSchedules": bool(s.crons),
        "hasGroup": s.hasGroup,
        "hasUser": bool(s.users),
        "hasDevice": s.hasDevice,
        "hasZone": s.hasZone,
    }


def cron_row(c: d.Cron) -> dict[str, Any]:
    return {
        "id": c.id,
        "scheduleId": c.scheduleId,
        "cron_expression": c.cron_expression,
        "time_duration": c.time_duration,
        "start": fmt_dt(c.start),
        "end": fmt_dt(c.end),
        "activeOnHolidays": c.activeOnHolidays,
    }


def cloud_key_row(k: d.CloudKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "userId": k.userId,
        "validFrom": fmt_dt(k.validFrom),
        "expireOn": fmt_dt(k.expireOn),
        "sendByEmail": k.sendByEmail,
        "sendByText": k.sendByText,
        "useOneTime": k.useOneTime,
        "status": k.status,
    }


class SandboxState:
    """Everything one running sandbox knows. Guarded by one re-entrant lock."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.start: datetime = config.start  # type: ignore[assignment]
        self._offset = timedelta(0)
        self._mono0 = time.monotonic()
        self.sim_day = 0  # completed simulated days
        # Events with createdAt before `released` have happened; simulate() moves it (and the
        # clock) forward. The day it falls in has its events generated, later ones hidden.
        self.released: datetime = self.start
        self._generated_through = self.start  # days before this have their events
        self.late_uploads: list[dict[str, Any]] = []  # every back-dated upload, for tests
        self.late_batches = 0  # late uploads so far (a snapshot shows the batches before it)
        self.account = d.generate(config.shape, config.seed, self.start)
        key_created = config.key_created_at or (self.start - timedelta(days=30))
        self.keys = KeyStore(config.access_key, key_created)  # type: ignore[arg-type]
        owner = next(iter(self.account.users.values()), None)
        self.tokens = TokenIssuer(config.token_lifetime_s, owner.id if owner else EMPTY_GUID)
        rate = config.rate
        self.limiter = SlidingWindowLimiter(*rate) if rate else None
        self.faults = Faults(config.seed, set(ENDPOINTS))
        self.stats: Counter[str] = Counter()
        self.per_endpoint: Counter[str] = Counter()
        self.request_log: list[str] = []  # "path?query" of each Alocity-surface request, in order
        self.by_status: Counter[str] = Counter()
        self.in_flight = 0
        self.history: dict[int, dict[str, Any]] = {0: self._snapshot()}

    # --- clock ---------------------------------------------------------------
    def now(self) -> datetime:
        """Sandbox clock: start + admin/simulate offset (+ wall time elapsed unless frozen)."""
        elapsed = 0.0 if self.config.freeze_clock else time.monotonic() - self._mono0
        return self.start + self._offset + timedelta(seconds=elapsed)

    def share_wall_clock(self, other: SandboxState) -> None:
        """Let wall time run from `other`'s origin: the accounts of one server read one time until
        the admin interface moves one of them (else each would lag by when it was built)."""
        with self.lock:
            self._mono0 = other._mono0

    def set_clock(self, value: datetime) -> None:
        with self.lock:
            self._offset += value - self.now()

    def advance(self, seconds: float) -> None:
        with self.lock:
            self._offset += timedelta(seconds=seconds)

    # --- simulation ----------------------------------------------------------
    def simulate(
        self, days: int = 0, hours: float = 0, late_per_day: int = 0, late_days_back: int = 2
    ) -> None:
        """Let `days` days and `hours` hours happen: their access logs, and at each midnight
        the day's changes to the account (a snapshot of the ground truth follows each).

        Part of a day (hours) shows that day's events so far ("today so far"); the rest
        appears as the simulation moves on. `late_per_day`: each whole simulated day, that
        many events reach the cloud at noon back-dated `late_days_back` days, as a door
        controller that lost its connection uploads its buffer with the original times."""
        remaining = timedelta(days=int(days), hours=float(hours))
        while remaining > timedelta(0):
            with self.lock:
                day = self._day_start(self.released)
                step = min(remaining, day + timedelta(days=1) - self.released)
                self._generate_day(day)
                if late_per_day and step == timedelta(days=1):
                    k = (day - self.start).days + 1
                    noon, rng = day + timedelta(hours=12), d.rng_for(self.config.seed, 300, k)
                    self._upload_late(late_per_day, late_days_back, noon, rng)
                self.released += step
                self._offset += step
                remaining -= step
                if self.released == day + timedelta(days=1):  # midnight: the day is over
                    self.sim_day += 1
                    self._simulate_day(self.sim_day)
                    self.history[self.sim_day] = self._snapshot()

    def upload_late(self, count: int, days_back: int) -> list[dict[str, Any]]:
        """`count` events reach the cloud now, back-dated into the UTC day `days_back` days
        before today's (a controller's buffer). Returns them in wire format."""
        with self.lock:
            rng = d.rng_for(self.config.seed, 301, len(self.late_uploads))
            return self._upload_late(count, days_back, self.released, rng)

    def _upload_late(
        self, count: int, days_back: int, at: datetime, rng: np.random.Generator
    ) -> list[dict[str, Any]]:
        if count <= 0 or days_back < 1:
            return []
        day = self._day_start(at) - timedelta(days=days_back)
        acc = self.account
        chunk = d.gen_logs(acc, rng, [day], 0.0, d.rng_for(self.config.seed, 3), counts=np.array([count]))
        self.late_batches += 1
        chunk["batch"] = np.full(len(chunk["ts"]), self.late_batches, dtype=np.int32)
        acc.logs.append(chunk)
        at_text = fmt_dt(at)
        rows = [
            dict(row, uploadedAt=at_text)
            for row in self._render(chunk, np.lexsort((chunk["lo"], chunk["hi"], chunk["ts"])))
        ]
        self.late_uploads.extend(rows)
        self.stats["late_uploads"] += len(rows)
        return rows

    def _day_start(self, t: datetime) -> datetime:
        """Start of the simulated day holding `t`. Days run from the start's time of day: with
        the default start (00:00 UTC) they are UTC days."""
        return self.start + timedelta(days=(t - self.start) // timedelta(days=1))

    def _generate_day(self, day: datetime) -> None:
        """The access logs of one UTC day, drawn from the people who exist at its start."""
        if day < self._generated_through:
            return
        k = (day - self.start).days + 1
        acc, seed = self.account, self.config.seed
        per_weekday = d.events_per_weekday(self.config.shape)
        acc.logs.append(d.gen_logs(acc, d.rng_for(seed, 200, k), [day], per_weekday, d.rng_for(seed, 3)))
        self._generated_through = day + timedelta(days=1)

    def _simulate_day(self, k: int) -> None:
        """The account's changes during simulated day k (its access logs are made as it begins)."""
        acc, seed = self.account, self.config.seed
        rng = d.rng_for(seed, 100, k)
        day = self.start + timedelta(days=k - 1)
        scale = max(len(acc.users), 10)

        def at() -> datetime:
            return day + timedelta(seconds=int(rng.integers(7 * 3600, 19 * 3600)))

        def pick(pool: list[Any], n: int) -> list[Any]:
            n = min(n, len(pool))
            return [pool[i] for i in sorted(rng.choice(len(pool), size=n, replace=False))] if n else []

        for _ in range(1 + int(rng.poisson(scale * 0.01))):
            user = d.make_user(acc, rng, at())
            if rng.random() < 0.6:
                d.make_card(acc, rng, user.id)
            if acc.groups and rng.random() < 0.5:
                list(acc.groups.values())[int(rng.integers(len(acc.groups)))].members[user.id] = None
        users = [u for u in acc.users.values() if not u.is_owner]
        for u in pick(users, 1 + int(rng.poisson(scale * 0.02))):
            what = int(rng.integers(4))
            if what == 0:
                u.lastName = d.LAST_NAMES[int(rng.integers(len(d.LAST_NAMES)))]
                u.name_ref = acc.name_ref(u.fullName)
            elif what == 1:
                u.phoneNumber = "" if u.phoneNumber else f"+1786{5550000 + acc.user_serial + k:07d}"
            elif what == 2:
                u.localeISO2 = "en" if u.localeISO2 == "es" else "es"
            else:
                u.hasEnrolledFace = not u.hasEnrolledFace
        for u in pick(users, int(rng.poisson(scale * 0.005 + 0.5))):
            self.delete_user(u.id)
        users = list(acc.users.values())
        for u in pick(users, 1 + int(rng.poisson(scale * 0.01))):
            d.make_card(acc, rng, u.id)
        active = [c for c in acc.cards.values() if c.active]
        for c in pick(active, int(rng.poisson(scale * 0.004 + 0.5))):
            c.active = False
            c.lost_or_stolen = bool(rng.random() < 0.3)
        for u in pick(users, 1 + int(rng.poisson(scale * 0.005))):
            d.make_cloud_key(acc, rng, u.id, at())
        for coll in (list(acc.groups.values()), list(acc.schedules.values())):
            for obj in pick(coll, max(1, len(coll) // 3)):
                members = obj.members if isinstance(obj, d.Group) else obj.users
                outside = [u.id for u in users if u.id not in members]
                for uid in pick(outside, int(rng.integers(0, 3))):
                    members[uid] = None
                for uid in pick(list(members), int(rng.integers(0, 2))):
                    del members[uid]

    # --- mutations shared by the API and the simulation --------------------
    def user_or_error(self, user_id: Any) -> d.User:
        user = self.account.users.get(user_id) if isinstance(user_id, str) else None
        if user is None:
            raise ControlledError("error_user_not_found", "No user with this id on the account", "userId")
        return user

    def check_user_fields(self, body: dict[str, Any], creating: bool, user: d.User | None = None) -> None:
        fail = "error_user_not_created" if creating else "error_user_not_updated"
        for name in ("email", "firstName", "lastName", "localeISO2"):
            if not isinstance(body.get(name), str) or not body[name].strip():
                if name == "localeISO2":
                    raise ControlledError("error_locale_not_found", "localeISO2 is required", name)
                raise ControlledError(fail, f"{name} is required", name)
        email = body["email"].strip()
        if len(email) > 150 or not EMAIL_RE.match(email):
            raise ControlledError(fail, "email is not a valid e-mail address", "email")
        if body["localeISO2"] not in LOCALES:
            raise ControlledError("error_locale_not_found", "Supported locales: en, es", "localeISO2")
        phone = body.get("phoneNumber")
        if phone not in (None, "") and (
            not isinstance(phone, str) or len(phone) > 25 or not PHONE_RE.match(phone)
        ):
            raise ControlledError(
                "error_phonenumber_invalid_format", "Phone number is malformed", "phoneNumber"
            )
        others = [u for u in self.account.users.values() if user is None or u.id != user.id]
        if phone and any(u.phoneNumber == phone for u in others):
            code = "error_phone_number_used_on_same_account" if creating else "error_phonenumber_duplicated"
            raise ControlledError(code, "Another user has this phone number", "phoneNumber")
        if any(u.email.lower() == email.lower() for u in others):
            code = "error_user_email_already_used_on_same_account" if creating else fail
            raise ControlledError(code, "Another user has this e-mail", "email")

    def create_user(self, body: dict[str, Any]) -> str:
        self.check_user_fields(body, creating=True)
        acc = self.account
        uid = str(uuid.uuid4())
        user = d.User(
            id=uid,
            email=body["email"].strip(),
            firstName=body["firstName"].strip(),
            lastName=body["lastName"].strip(),
            localeISO2=body["localeISO2"],
            mobileCredential=None,
            phoneNumber=body.get("phoneNumber") or "",
            hasEnrolledFace=False,
            createdAt=self.now(),
            site_index=0,
            reg=len(acc.reg_ids),
            name_ref=0,
        )
        user.name_ref = acc.name_ref(user.fullName)
        acc.reg_ids.append(uid)
        acc.users[uid] = user
        return uid

    def update_user(self, user_id: str, body: dict[str, Any]) -> None:
        user = self.user_or_error(user_id)
        if user.is_owner:
            raise ControlledError(
                "error_user_error_updating_account_owner", "The account owner cannot be changed"
            )
        self.check_user_fields(body, creating=False, user=user)
        user.email, user.firstName, user.lastName = body["email"].strip(), body["firstName"], body["lastName"]
        user.localeISO2, user.phoneNumber = body["localeISO2"], body.get("phoneNumber") or ""
        user.name_ref = self.account.name_ref(user.fullName)

    def delete_user(self, user_id: str) -> None:
        """Cascade: cards, cloud keys, group and schedule links (DOC §3.2)."""
        acc = self.account
        user = self.user_or_error(user_id)
        if user.is_owner:
            raise ControlledError(
                "error_user_error_deleting_account_owner", "The account owner cannot be deleted"
            )
        del acc.users[user.id]
        for card in acc.cards.values():
            if card.userId == user.id:
                card.active = False
        for kid in [k.id for k in acc.cloud_keys.values() if k.userId == user.id]:
            del acc.cloud_keys[kid]
        for g in acc.groups.values():
            g.members.pop(user.id, None)
        for s in acc.schedules.values():
            s.users.pop(user.id, None)

    # --- snapshots and ground truth -----------------------------------------
    def _snapshot(self) -> dict[str, Any]:
        acc = self.account
        users = list(acc.users.values())
        tables: dict[str, Any] = {
            "sites": [site_row(s) for s in acc.sites.values()],
            "devices": [device_row(v) for v in acc.devices.values()],
            "device_access_settings": [settings_row(v) for v in acc.devices.values()],
            "users": [user_row(u) for u in users],
            "cards": [card_row(c) for c in acc.cards.values() if c.active and c.userId in acc.users],
            "groups": [group_row(g, True) for g in acc.groups.values()],
            "group_members": [
                {"groupId": g.id, **member_row(acc.users[uid])}
                for g in acc.groups.values()
                for uid in g.members
            ],
            "schedules": [schedule_row(s) for s in acc.schedules.values()],
            "cron_schedules": [cron_row(c) for s in acc.schedules.values() for c in s.crons],
            "schedule_users": [
                {"scheduleId": s.id, **member_row(acc.users[uid])}
                for s in acc.schedules.values()
                for uid in s.users
            ],
            "cloud_keys": [cloud_key_row(k) for k in acc.cloud_keys.values()],
        }
        return {"tables": tables, "released": self.released, "late_batches": self.late_batches}

    def log_rows(self, lo: int, hi: int) -> list[dict[str, Any]]:
        """Access-log rows [lo, hi) in wire format."""
        return self._render(self.account.logs.cols, slice(lo, hi))

    def _render(self, cols: dict[str, np.ndarray], rows: slice | np.ndarray) -> list[dict[str, Any]]:
        """Access-log rows of `cols` in wire format (vectorised where it matters)."""
        acc = self.account
        ts = np.datetime_as_string(cols["ts"][rows].astype("datetime64[ms]"), unit="ms")
        serials = list(acc.devices)
        site_of = [acc.devices[s].siteId for s in serials]
        out = []
        for t, h, l_, reg, name, dev, res, cred in zip(
            ts,
            cols["hi"][rows].tolist(),
            cols["lo"][rows].tolist(),
            cols["reg"][rows].tolist(),
            cols["name"][rows].tolist(),
            cols["dev"][rows].tolist(),
            cols["result"][rows].tolist(),
            cols["cred"][rows].tolist(),
            strict=True,
        ):
            out.append(
                {
                    "id": d.fmt_log_id(h, l_),
                    "createdAt": f"{t}Z",
                    "userId": acc.reg_ids[reg] if reg >= 0 else None,
                    "fullName": acc.names[name] if name >= 0 else None,
                    "deviceSerialNumber": serials[dev],
                    "siteId": site_of[dev],
                    "result": res,
                    "credentialType": d.CREDENTIALS[cred],
                }
            )
        return out

    def ground_truth(
        self,
        day: int | None = None,
        table: str | None = None,
        from_: datetime | None = None,
        to: datetime | None = None,
    ) -> dict[str, Any] | list[Any]:
        """Wire-format rows per warehouse table, as of simulated day `day` (None = now)."""
        with self.lock:
            if day is None:
                snap = self._snapshot()
            elif day in self.history:
                snap = self.history[day]
            else:
                raise KeyError(f"no snapshot for day {day}; simulated days: 0..{self.sim_day}")
            if table is not None and table not in TABLES:
                raise KeyError(f"unknown table {table!r}; known: {', '.join(TABLES)}")
            wanted = [table] if table else list(TABLES)
            out: dict[str, Any] = {}
            for name in wanted:
                if name == "access_logs":
                    released = int(snap["released"].timestamp() * 1000)
                    lo, hi = self.account.logs.window(
                        None if from_ is None else int(from_.timestamp() * 1000),
                        None if to is None else int(to.timestamp() * 1000),
                        released,
                    )
                    # Late uploads made after this snapshot were not in the cloud yet.
                    batch = self.account.logs.cols["batch"][lo:hi]
                    seen = np.flatnonzero(batch <= snap["late_batches"]) + lo
                    out[name] = self._render(self.account.logs.cols, seen)
                else:
                    out[name] = [dict(r) for r in snap["tables"][name]]
            return out[table] if table else out

    def stats_dict(self) -> dict[str, Any]:
        """Counters (always present, 0 when nothing happened) plus per-endpoint and per-status counts."""
        with self.lock:
            counters = {k: self.stats[k] for k in (*STAT_KEYS, *sorted(set(self.stats) - set(STAT_KEYS)))}
            return {**counters, "per_endpoint": dict(self.per_endpoint), "by_status": dict(self.by_status)}

    def reset_stats(self) -> None:
        with self.lock:
            self.stats.clear()
            self.per_endpoint.clear()
            self.request_log.clear()
            self.by_status.clear()
