"""What a simulated year holds, night by night: a pure, seeded plan (no I/O), so a failing
year replays exactly from its seed.

Day d runs from 00:00 to 24:00 UTC on the sandbox's clock; night d is the nightly run at
02:00 of day d (night 1 is the first sync). Through the day: the key-expiry sensor ticks
at 09:00, the operator acts at 10:00, a Reissue happens at 12:00 with the controllers'
late uploads, the intraday schedule ticks at 14:00 on some days.

Months are the year's twelfths (month m = days (m-1)*N/12 .. m*N/12, 1-based), so a
60-night plan keeps the year's shape, compressed.

The access key: created 30 days before night 1 (the sandbox's own default key age), so
it expires on day E = N - 30 (335 for a year) and the sensor's 30/14/7/3/1-day warnings fall
in month 11. The first night within 30 days of expiry renews it (a new key appears in the
portal); the operator moves to it on the day of the last warning, before it lapses.
The Reissue comes after that, in month 12, not month 6 as first asked: a Reissue disables
every key and the new one lives a year, so a Reissue in month 6 would leave no key to near
its expiry within the year. Disabling the renewed key the operator just set also shows a
Reissue leaves no key working.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

FAULTS = ("5xx storm", "429 storm", "connection resets", "token invalidated mid-sync")
KILL = "SIGKILL mid-write"
THRESHOLDS = (30, 14, 7, 3, 1)


@dataclass(frozen=True)
class Upload:
    """`count` events reach the cloud at noon of a day, back-dated `back` days."""

    count: int
    back: int


@dataclass
class YearPlan:
    nights: int
    seed: int
    key_created_day: int  # the first key's creation, relative to day 0
    key_expiry_day: int  # E
    switch_day: int  # the operator moves to the renewed key (10:00)
    reissue_day: int  # Reissue Access Key in the portal (12:00)
    new_key_day: int  # the operator sets the reissued key (10:00)
    drift: dict[str, int]  # "add" | "type" | "drop" -> the first night the API shows it
    outages: list[tuple[int, int]]  # (first night, nights) the machine is off
    skipped: set[int] = field(default_factory=set)  # single nights the machine is off
    faults: dict[int, str] = field(default_factory=dict)  # night -> fault kind (or KILL)
    uploads: dict[int, list[Upload]] = field(default_factory=dict)  # day -> uploads at noon
    intraday: set[int] = field(default_factory=set)  # days the intraday schedule ticks at 14:00

    @classmethod
    def make(cls, nights: int, seed: int) -> YearPlan:
        rng = random.Random(seed)
        n = nights

        def month(m: float) -> int:  # a day in month m (1-based, fractional = later in it)
            return max(2, round((m - 1) * n / 12))

        expiry = n - 30 if n >= 200 else n - 25
        plan = cls(
            nights=n,
            seed=seed,
            key_created_day=expiry - 365,
            key_expiry_day=expiry,
            switch_day=expiry - 2,  # the day of the 1-day warning
            reissue_day=expiry + 10,
            new_key_day=expiry + 11,
            drift={"add": month(4.3), "type": month(8.3), "drop": month(10.3)},
            # A shorter plan keeps the week off clear of its (compressed) key story.
            outages=[(month(2.5), 3), (month(7.3), 7) if n >= 200 else (n - 11, 7)],
        )
        off = {d for start, length in plan.outages for d in range(start, start + length)}
        # Nights whose outcome a check depends on: no other fault, and the machine is on.
        special = {
            1, 2, plan.switch_day, plan.switch_day + 1, plan.reissue_day + 1, plan.reissue_day + 2,
            plan.new_key_day, *plan.drift.values(), *plan.warning_days(),
        }  # fmt: skip
        busy = off | {d + 1 for d in off} | special
        free = [d for d in range(3, n + 1) if d not in busy]
        rng.shuffle(free)
        per_kind = max(1, round(n / 120))  # a year: 3 nights of each storm
        kinds = [k for k in FAULTS for _ in range(per_kind)] + [KILL]
        for kind in kinds:
            night = free.pop()
            plan.faults[night] = kind
            busy |= {night, night + 1}
        # ~10% of nights skipped singly (never two in a row, never next to another event).
        candidates = sorted(d for d in free if d not in busy)
        rng.shuffle(candidates)
        for night in candidates:
            if len(plan.skipped) >= round(0.1 * n):
                break
            if {night - 1, night, night + 1} & (busy | plan.skipped):
                continue
            plan.skipped.add(night)
        for day in range(0, n):
            ups = []
            if rng.random() < 0.8:  # most days: a controller's buffer within the settle window
                ups.append(Upload(rng.randint(1, 4), rng.randint(1, 3)))
            plan.uploads[day] = ups
        # A few uploads later than the settle window (5-12 days late): the weekly re-read of
        # 21 days finds anything up to 14 days late within a week.
        for day in rng.sample(range(20, n - 10), max(2, round(n / 45))):
            plan.uploads[day].append(Upload(rng.randint(2, 5), rng.randint(5, 12)))
        plan.intraday = {d for d in range(1, n) if rng.random() < 0.1 and d not in off}
        return plan

    def machine_off(self, night: int) -> str | None:
        """Why night `night` has no run: None when the machine is on."""
        for start, length in self.outages:
            if start <= night < start + length:
                return f"outage of {length} nights"
        return "skipped" if night in self.skipped else None

    def day_off(self, day: int) -> bool:
        """The machine is off all day (an outage): no sensor tick, no intraday run."""
        return any(start <= day < start + length for start, length in self.outages)

    def warning_days(self) -> list[int]:
        """The days whose 09:00 tick first sees each threshold (days left rounded down), by
        this plan's own arithmetic: th days or fewer left at 09:00 of day d means
        E - d - 0.375 < th + 1."""
        return [self.key_expiry_day - th - 1 for th in THRESHOLDS]

    def drift_active(self, kind: str, night: int) -> bool:
        return night >= self.drift[kind]

    def summary(self) -> dict:
        return {
            "nights": self.nights,
            "seed": self.seed,
            "outages": [{"first_night": s, "nights": n} for s, n in self.outages],
            "nights_skipped_singly": sorted(self.skipped),
            "faults": {str(k): v for k, v in sorted(self.faults.items())},
            "drift_nights": self.drift,
            "key": {
                "first_key_created_day": self.key_created_day,
                "expires_day": self.key_expiry_day,
                "warning_days": self.warning_days(),
                "operator_switches_day": self.switch_day,
                "reissue_day": self.reissue_day,
                "operator_sets_reissued_key_day": self.new_key_day,
            },
            "intraday_days": len(self.intraday),
        }
