"""Deterministic synthetic Alocity account: entities, and access logs as numpy columns.

Everything is drawn from numpy generators seeded with (seed, purpose[, day]) so the
same seed and start always give the same account, and a simulated day does not
depend on how many random numbers an earlier step consumed.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from .config import Preset

DAY_MS = 86_400_000

FIRST_NAMES = [
    "José",
    "Zoë",
    "Łukasz",
    "太郎",
    "María",
    "François",
    "Søren",
    "Ngozi",
    "Chen",
    "Aisha",
    "Liam",
    "Emma",
    "Noah",
    "Olivia",
    "Mateo",
    "Sofía",
    "Björn",
    "Ana",
    "Jürgen",
    "Chloé",
    "Darius",
    "Fatima",
    "Hiro",
    "Ingrid",
    "Kwame",
    "Lucía",
    "Mohammed",
    "Nadia",
    "Oscar",
    "Priya",
    "Rafael",
    "Sara",
    "Tomás",
    "Uma",
    "Valentina",
    "Wei",
    "Yara",
    "Zoltán",
    "Ólafur",
    "Ève",
    "Agnieszka",
    "Ren",
    "Camila",
    "Diego",
]
LAST_NAMES = [
    "García",
    "Müller",
    "Kowalski",
    "山田",
    "Smith",
    "O'Brien",
    "Núñez",
    "Øster",
    "Nguyen",
    "Dubois",
    "Rossi",
    "Johnson",
    "Fernández",
    "Brown",
    "Silva",
    "Wójcik",
    "Jensen",
    "Okafor",
    "Wang",
    "Patel",
    "López",
    "Schmidt",
    "Martínez",
    "Kim",
    "Costa",
    "Novák",
    "Andersson",
    "Yılmaz",  # noqa: RUF001 (a real Turkish name: non-ASCII on purpose)
    "Hernández",
    "Lee",
    "Williams",
    "Gómez",
    "Kuznetsov",
    "Tanaka",
    "Ramírez",
    "de la Cruz",
    "Van Dijk",
    "Ibáñez",
]
ROMAN = {"太郎": "taro", "山田": "yamada"}  # e-mail local parts for non-Latin names

SITE_NAMES = [
    ("Headquarters", "America/New_York", "100 Main St, New York, NY 10001"),
    ("Bodega Norte", "America/Mexico_City", "Av. Insurgentes Sur 1602, Ciudad de México"),
    ("Zürich Office", "Europe/Zurich", "Bahnhofstrasse 10, 8001 Zürich"),
    ("Miami Warehouse", "America/New_York", "2500 NW 79th Ave, Miami, FL 33122"),
    ("Madrid Oficina", "Europe/Madrid", "Calle de Alcalá 45, 28014 Madrid"),
    ("東京オフィス", "Asia/Tokyo", "東京都千代田区丸の内1-1"),
    ("London Hub", "Europe/London", "1 Canada Square, London E14 5AB"),
    ("Bogotá Centro", "America/Bogota", "Carrera 7 # 71-21, Bogotá"),
    ("Denver Lab", "America/Denver", "1700 Lincoln St, Denver, CO 80203"),
    ("São Paulo", "America/Sao_Paulo", "Av. Paulista 1000, São Paulo"),
    ("Kraków Dev", "Europe/Warsaw", "ul. Floriańska 3, 31-019 Kraków"),
    ("Austin Annex", "America/Chicago", "600 Congress Ave, Austin, TX 78701"),
]
DOOR_NAMES = [
    "Main Entrance",
    "Back Door",
    "Lobby",
    "Server Room",
    "Loading Dock",
    "Garage Gate",
    "Puerta Principal",
    "Turnstile",
    "Roof Access",
    "Staff Room",
    "Elevator Floor 2",
    "Café",
]
GROUP_NAMES = [
    "Staff",
    "Contractors",
    "Visitors",
    "Engineering",
    "Seguridad",
    "Cleaning",
    "Managers",
    "Night Shift",
    "Lab Access",
    "Executives",
    "Interns",
    "Facilities",
]
SCHEDULE_NAMES = [
    "Business Hours",
    "Night Shift",
    "Weekend",
    "Horario Laboral",
    "Cleaning Crew",
    "Deliveries",
    "Early Birds",
    "Maintenance Window",
]
CRONS = [
    ("0 0 8 ? * MON-FRI", 600),
    ("0 30 7 ? * MON,WED,FRI", 540),
    ("0 0 22 ? * MON-FRI", 480),
    ("0 0 9 ? * SAT,SUN", 360),
    ("0 0 6 ? * MON-SAT", 120),
    ("0 15 12 ? * MON-FRI", 45),
]
MODELS = ["Alocity A1", "Alocity A1 Pro", "Alocity Edge 2"]
FIRMWARE = ["2.4.1", "2.5.0", "2.5.3", "3.0.0-rc1"]

# Access Log Result Type (DOC §7) and how often each happens.
RESULTS = np.array([0, 1, 2, 3, 4, 6, 7, 8, 9], dtype=np.int8)
RESULT_P = np.array([0.85, 0.05, 0.04, 0.005, 0.01, 0.015, 0.0025, 0.0025, 0.025])
NO_USER_RESULTS = (2, 4, 6, 9)  # nobody recognised: userId and fullName are null
CREDENTIALS = ["Face", "Card", "ExternalCard", "FaceOnCard", "CloudKey", "Web"]
CRED_P = np.array([0.5, 0.2, 0.05, 0.08, 0.1, 0.07])


def rng_for(seed: int, *purpose: int) -> np.random.Generator:
    return np.random.default_rng([seed, *purpose])


def guid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def ascii_slug(text: str) -> str:
    if text in ROMAN:
        return ROMAN[text]
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(c for c in folded if c.isalnum()) or "user"


@dataclass
class Site:
    id: int
    name: str
    timeZone: str
    address: str
    createdAt: datetime


@dataclass
class Device:
    serialNumber: str
    name: str
    siteId: int
    model: str
    firmwareVersion: str
    isOnline: bool
    lastSeenAt: datetime | None
    createdAt: datetime
    settings: dict[str, int | bool]


@dataclass
class User:
    id: str
    email: str
    firstName: str
    lastName: str
    localeISO2: str
    mobileCredential: str | None
    phoneNumber: str
    hasEnrolledFace: bool
    createdAt: datetime
    site_index: int  # home site (drives which doors the user uses in access logs)
    reg: int  # index in Account.reg_ids (access logs keep pointing at deleted users)
    name_ref: int  # index in Account.names of the current full name
    is_owner: bool = False

    @property
    def fullName(self) -> str:
        return f"{self.firstName} {self.lastName}".strip()


@dataclass
class Card:
    id: int
    cardNumber: int
    facilityCode: int
    userId: str
    active: bool = True
    lost_or_stolen: bool = False


@dataclass
class Group:
    id: int
    name: str
    description: str
    members: dict[str, None] = field(default_factory=dict)  # ordered set of user ids


@dataclass
class Cron:
    id: int
    scheduleId: int
    cron_expression: str
    time_duration: int
    start: datetime
    end: datetime | None
    activeOnHolidays: bool


@dataclass
class Schedule:
    id: int
    name: str
    description: str
    siteId: int
    isAutomatic: bool
    hasGroup: bool
    hasDevice: bool
    hasZone: bool
    crons: list[Cron] = field(default_factory=list)
    users: dict[str, None] = field(default_factory=dict)


@dataclass
class CloudKey:
    id: int
    userId: str
    validFrom: datetime
    expireOn: datetime
    sendByEmail: bool
    sendByText: bool
    useOneTime: bool
    status: int


LOG_COLUMNS = ("ts", "batch", "hi", "lo", "reg", "name", "dev", "result", "cred")
LOG_DTYPES = {
    "ts": np.int64,  # createdAt, ms since the epoch
    "batch": np.int32,  # 0: uploaded as it happened; n: in the n-th late upload
    "hi": np.uint64,
    "lo": np.uint64,
    "reg": np.int32,
    "name": np.int32,
    "dev": np.int32,
    "result": np.int8,
    "cred": np.int8,
}


class LogStore:
    """Append-only access logs as columns, sorted by (createdAt, id).

    Chunks usually arrive in time order (each simulated day is later than the last); a
    chunk of late uploads back-dated into earlier days is merged into place on the next
    read. Ids are two uint64 halves of a v4 UUID: fixed-width hex makes their numeric
    order equal to the string order the API sorts by.
    """

    def __init__(self) -> None:
        self._chunks: list[dict[str, np.ndarray]] = []
        self._cache: dict[str, np.ndarray] | None = None
        self._sorted = True

    def append(self, chunk: dict[str, np.ndarray]) -> None:
        if len(chunk["ts"]):
            order = np.lexsort((chunk["lo"], chunk["hi"], chunk["ts"]))
            chunk = {k: v[order] for k, v in chunk.items()}
            last = self._chunks[-1]["ts"][-1] if self._chunks else None
            if last is not None and chunk["ts"][0] < last:
                self._sorted = False
            self._chunks.append(chunk)
            self._cache = None

    @property
    def cols(self) -> dict[str, np.ndarray]:
        if self._cache is None:
            if not self._chunks:
                self._cache = {k: np.empty(0, dtype=LOG_DTYPES[k]) for k in LOG_COLUMNS}
            elif len(self._chunks) == 1:
                self._cache = self._chunks[0]
            else:
                merged = {k: np.concatenate([c[k] for c in self._chunks]) for k in LOG_COLUMNS}
                if not self._sorted:
                    order = np.lexsort((merged["lo"], merged["hi"], merged["ts"]))
                    merged = {k: v[order] for k, v in merged.items()}
                    self._sorted = True
                self._cache = merged
                self._chunks = [self._cache]
        return self._cache

    def __len__(self) -> int:
        return sum(len(c["ts"]) for c in self._chunks)

    def window(self, from_ms: int | None, to_ms: int | None, released_ms: int) -> tuple[int, int]:
        """Row range [lo, hi) of createdAt in [from, to) among events that have happened by
        `released_ms` (createdAt before it)."""
        ts = self.cols["ts"]
        lo = 0 if from_ms is None else int(np.searchsorted(ts, from_ms, side="left"))
        end = released_ms if to_ms is None else min(to_ms, released_ms)
        hi = int(np.searchsorted(ts, end, side="left"))
        return lo, max(lo, hi)


@dataclass
class Account:
    """The whole account; mutated by the API and by simulate()."""

    sites: dict[int, Site] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    cards: dict[int, Card] = field(default_factory=dict)
    groups: dict[int, Group] = field(default_factory=dict)
    schedules: dict[int, Schedule] = field(default_factory=dict)
    cloud_keys: dict[int, CloudKey] = field(default_factory=dict)
    logs: LogStore = field(default_factory=LogStore)
    reg_ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    next_ids: dict[str, int] = field(default_factory=dict)
    user_serial: int = 0  # drives unique e-mails and phone numbers
    card_ids_by_user: dict[str, list[int]] = field(default_factory=dict)

    def next_id(self, kind: str) -> int:
        value = self.next_ids[kind]
        self.next_ids[kind] = value + 1
        return value

    def name_ref(self, full_name: str) -> int:
        self.names.append(full_name)
        return len(self.names) - 1

    def add_card(self, card: Card) -> Card:
        self.cards[card.id] = card
        self.card_ids_by_user.setdefault(card.userId, []).append(card.id)
        return card

    def active_cards(self, user_id: str) -> list[Card]:
        # Indexed by user: the ETL reads every user's detail, which must not scan all cards each time.
        return [c for c in (self.cards[i] for i in self.card_ids_by_user.get(user_id, ())) if c.active]


def make_user(acc: Account, rng: np.random.Generator, created_at: datetime, owner: bool = False) -> User:
    """A plausible user; unique e-mail and phone via the account's serial."""
    acc.user_serial += 1
    n = acc.user_serial
    first = FIRST_NAMES[int(rng.integers(len(FIRST_NAMES)))]
    last = LAST_NAMES[int(rng.integers(len(LAST_NAMES)))]
    uid = guid(rng)
    roll = rng.random(4)
    email = f"{ascii_slug(first)}.{ascii_slug(last)}{n}@example.com"
    phone = "" if roll[0] < 0.15 else f"+1305{5550000 + n:07d}"  # some users have no phone
    user = User(
        id=uid,
        email=email,
        firstName=first,
        lastName=last,
        localeISO2="es" if roll[1] < 0.3 else "en",
        mobileCredential=guid(rng) if roll[2] < 0.4 else None,
        phoneNumber=phone,
        hasEnrolledFace=bool(roll[3] < 0.6),
        createdAt=created_at,
        site_index=int(rng.integers(max(len(acc.sites), 1))),
        reg=len(acc.reg_ids),
        name_ref=0,
        is_owner=owner,
    )
    user.name_ref = acc.name_ref(user.fullName)
    acc.reg_ids.append(uid)
    acc.users[uid] = user
    return user


def make_card(acc: Account, rng: np.random.Generator, user_id: str) -> Card:
    card = Card(
        id=acc.next_id("card"),
        cardNumber=int(rng.integers(10_000, 4_000_000_000)),
        facilityCode=int(rng.integers(1, 256)),
        userId=user_id,
    )
    return acc.add_card(card)


def make_cloud_key(acc: Account, rng: np.random.Generator, user_id: str, around: datetime) -> CloudKey:
    valid_from = around + timedelta(hours=int(rng.integers(-72, 48)))
    key = CloudKey(
        id=acc.next_id("cloud_key"),
        userId=user_id,
        validFrom=valid_from,
        expireOn=valid_from + timedelta(hours=int(rng.choice([4, 24, 72, 168, 720]))),
        sendByEmail=bool(rng.random() < 0.7),
        sendByText=bool(rng.random() < 0.4),
        useOneTime=bool(rng.random() < 0.2),
        status=1 if rng.random() < 0.9 else 0,
    )
    acc.cloud_keys[key.id] = key
    return key


def generate(shape: Preset, seed: int, start: datetime) -> Account:
    """The initial account as of `start` (the sandbox clock's first value)."""
    rng = rng_for(seed, 1)
    acc = Account(
        next_ids={
            "site": 1001,
            "group": 301,
            "schedule": 5001,
            "cron": 8001,
            "card": 900_001,
            "cloud_key": 70_001,
        }
    )
    history_start = start - timedelta(days=shape.log_days + 1)
    for i in range(shape.sites):
        name, tz, address = SITE_NAMES[i % len(SITE_NAMES)]
        sid = acc.next_id("site")
        acc.sites[sid] = Site(
            sid,
            name if i < len(SITE_NAMES) else f"{name} {i}",
            tz,
            address,
            start - timedelta(days=900 - 20 * i, hours=int(rng.integers(24))),
        )
    site_ids = list(acc.sites)
    for i in range(shape.devices):
        serial = f"ALC{int(rng.integers(10**8, 10**9))}{i:04d}"
        online = bool(rng.random() < 0.9)
        acc.devices[serial] = Device(
            serialNumber=serial,
            name=DOOR_NAMES[i % len(DOOR_NAMES)],
            siteId=site_ids[i % len(site_ids)],
            model=MODELS[int(rng.integers(len(MODELS)))],
            firmwareVersion=FIRMWARE[int(rng.integers(4))],
            isOnline=online,
            lastSeenAt=(start - timedelta(seconds=int(rng.integers(5, 600 if online else 400_000))))
            if rng.random() < 0.95
            else None,
            createdAt=start - timedelta(days=int(rng.integers(60, 800))),
            settings={
                "doorContactPosition": int(rng.integers(0, 3)),
                "doorContactType": int(rng.integers(0, 2)),
                "doorOpenTimeout": int(rng.choice([10, 15, 30, 60])),
                "exitButtonContactPosition": int(rng.integers(0, 3)),
                "exitButtonContactType": int(rng.integers(0, 2)),
                "internalRelayEnabled": bool(rng.random() < 0.7),
                "ioRelay1Enabled": bool(rng.random() < 0.3),
                "ioRelay2Enabled": bool(rng.random() < 0.1),
                "lockReleaseTime": int(rng.choice([3, 5, 8])),
                "wiegandFormat": int(rng.integers(0, 4)),
                "wiegandInputEnabled": bool(rng.random() < 0.4),
                "wiegandOutputEnabled": bool(rng.random() < 0.2),
            },
        )
    # Users created over the two years before the log history starts, in creation order.
    offsets = np.sort(rng.integers(0, 730 * 86_400, size=shape.users))[::-1]
    for i in range(shape.users):
        make_user(acc, rng, history_start - timedelta(seconds=int(offsets[i])), owner=(i == 0))
    user_ids = list(acc.users)
    for uid in user_ids:
        for _ in range(int(rng.poisson(shape.cards_per_user))):
            make_card(acc, rng, uid)
        if rng.random() < shape.cloud_key_share:
            for _ in range(int(rng.integers(1, 3))):
                make_cloud_key(acc, rng, uid, start - timedelta(days=int(rng.integers(0, 60))))
    # A few deactivated cards, some of them reported lost or stolen.
    for i, card in enumerate(list(acc.cards.values())[::17]):
        card.active = False
        card.lost_or_stolen = i % 2 == 0
    cap = min(len(user_ids), 400)  # groups and schedules of a big account stay in the hundreds
    for i in range(shape.groups):
        gid = acc.next_id("group")
        name = GROUP_NAMES[i % len(GROUP_NAMES)] + ("" if i < len(GROUP_NAMES) else f" {i}")
        group = Group(gid, name, "" if i % 3 == 1 else f"{name} of the account")
        size = int(rng.integers(cap // 5, cap // 2 + 2)) if i != len(GROUP_NAMES) - 1 else 0
        for j in sorted(rng.choice(len(user_ids), size=min(size, len(user_ids)), replace=False)):
            group.members[user_ids[j]] = None
        acc.groups[gid] = group
    for i in range(shape.schedules):
        sid = acc.next_id("schedule")
        name = SCHEDULE_NAMES[i % len(SCHEDULE_NAMES)] + ("" if i < len(SCHEDULE_NAMES) else f" {i}")
        sched = Schedule(
            sid,
            name,
            "" if i % 2 else f"{name} ({site_ids[i % len(site_ids)]})",
            site_ids[i % len(site_ids)],
            bool(rng.random() < 0.3),
            bool(rng.random() < 0.6),
            bool(rng.random() < 0.8),
            bool(rng.random() < 0.2),
        )
        for _ in range(int(rng.integers(0 if i % 4 == 3 else 1, 4))):
            expr, duration = CRONS[int(rng.integers(len(CRONS)))]
            begin = start - timedelta(days=int(rng.integers(30, 400)))
            end = None if rng.random() < 0.6 else begin + timedelta(days=int(rng.integers(200, 800)))
            sched.crons.append(
                Cron(acc.next_id("cron"), sid, expr, duration, begin, end, bool(rng.random() < 0.3))
            )
        size = int(rng.integers(cap // 10, cap // 3 + 2))
        for j in sorted(rng.choice(len(user_ids), size=min(size, len(user_ids)), replace=False)):
            sched.users[user_ids[j]] = None
        acc.schedules[sid] = sched
    days = [start - timedelta(days=shape.log_days - d) for d in range(shape.log_days)]
    acc.logs.append(gen_logs(acc, rng_for(seed, 2), days, events_per_weekday(shape), rng_for(seed, 3)))
    return acc


def events_per_weekday(shape: Preset) -> float:
    """Mean events on a working day, so that log_days of history hold about `events` rows."""
    return shape.events / max(shape.log_days * (5 + 2 * 0.15) / 7, 1e-9)


def gen_logs(
    acc: Account,
    rng: np.random.Generator,
    days: list[datetime],
    per_weekday: float,
    activity_rng: np.random.Generator,
    counts: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Vectorised access logs for whole UTC days, drawn from the users that exist now.

    `counts`: events per day (default: Poisson around `per_weekday`, quieter weekends).
    Each event reaches the cloud when it happens (late-upload batch 0)."""
    users = list(acc.users.values())
    empty = {k: np.empty(0, dtype=LOG_DTYPES[k]) for k in LOG_COLUMNS}
    if not days or not acc.devices:
        return empty
    day_ms = np.array([int(d.timestamp() * 1000) for d in days], dtype=np.int64)
    if counts is None:
        weight = np.array([1.0 if d.weekday() < 5 else 0.15 for d in days])  # quiet weekends
        counts = rng.poisson(per_weekday * weight)
    n = int(counts.sum())
    if n == 0:
        return empty
    base = np.repeat(day_ms, counts)
    # Time of day: arrivals, lunch, departures, plus a flat background (24 h sites, night shift).
    comp = rng.choice(4, size=n, p=[0.4, 0.2, 0.3, 0.1])
    hours = np.choose(
        comp,
        [
            rng.normal(8.5, 0.75, n),
            rng.normal(12.75, 0.6, n),
            rng.normal(17.5, 0.9, n),
            rng.uniform(0, 24, n),
        ],
    )
    ms = np.clip(hours * 3_600_000, 0, DAY_MS - 1).astype(np.int64)
    result = rng.choice(RESULTS, size=n, p=RESULT_P / RESULT_P.sum())
    cred = rng.choice(len(CREDENTIALS), size=n, p=CRED_P / CRED_P.sum()).astype(np.int8)
    if users:
        activity = activity_rng.gamma(2.0, size=len(users))  # some people badge in far more often
        who = rng.choice(len(users), size=n, p=activity / activity.sum())
        reg_of = np.array([u.reg for u in users], dtype=np.int32)
        name_of = np.array([u.name_ref for u in users], dtype=np.int32)
        site_of = np.array([u.site_index % len(acc.sites) for u in users], dtype=np.int32)
        reg, name, site = reg_of[who], name_of[who], site_of[who]
    else:
        reg = name = np.full(n, -1, dtype=np.int32)
        site = rng.integers(0, len(acc.sites), n).astype(np.int32)
    nobody = np.isin(result, NO_USER_RESULTS)
    reg = np.where(nobody, -1, reg).astype(np.int32)
    name = np.where(nobody, -1, name).astype(np.int32)
    site = np.where(nobody, rng.integers(0, len(acc.sites), n), site)
    # Devices of each site, as a (start, count) table over a site-ordered device list.
    site_index = {sid: i for i, sid in enumerate(acc.sites)}
    dev_site = np.array([site_index[d.siteId] for d in acc.devices.values()], dtype=np.int32)
    order = np.argsort(dev_site, kind="stable").astype(np.int32)
    dev_count = np.bincount(dev_site, minlength=len(acc.sites))
    dev_start = np.concatenate([[0], np.cumsum(dev_count)[:-1]])
    # A site without devices sends its people through any device.
    has = dev_count[site] > 0
    pick = rng.integers(0, 1 << 30, n)
    dev = np.where(has, order[dev_start[site] + pick % np.maximum(dev_count[site], 1)], pick % len(dev_site))
    top = np.iinfo(np.uint64).max
    hi = rng.integers(0, top, size=n, dtype=np.uint64, endpoint=True)
    lo = rng.integers(0, top, size=n, dtype=np.uint64, endpoint=True)
    hi = (hi & ~np.uint64(0xF000)) | np.uint64(0x4000)  # UUID version 4
    lo = (lo & ~np.uint64(0xC << 60)) | np.uint64(0x8 << 60)  # RFC 4122 variant
    return {
        "ts": base + ms,
        "batch": np.zeros(n, dtype=np.int32),
        "hi": hi,
        "lo": lo,
        "reg": reg,
        "name": name,
        "dev": dev.astype(np.int32),
        "result": result.astype(np.int8),
        "cred": cred,
    }


def fmt_log_id(hi: int, lo: int) -> str:
    h = f"{hi:016x}{lo:016x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
