"""Sensors: access-key expiry warnings and run-failure alerts (thin wrappers over
alocity_etl.monitoring.key_expiry and alocity_etl.monitoring.alerts).

The key sensor never launches runs. Each tick it works out the key's expiry; while it is
far it skips, saying how many days are left and where the date came from. At 30, 14, 7, 3
and 1 days left, and at expiry, it logs a warning, reports an observation and an
`access_key_expiry` check result (WARN, ERROR within a day) on the external asset
`alocity_access_key`, and posts to the webhook once per threshold: the thresholds already
alerted, per key fingerprint and expiry date, live in the sensor cursor.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    AssetObservation,
    AssetSpec,
    DefaultSensorStatus,
    MetadataValue,
    RunFailureSensorContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    StaticPartitionsDefinition,
    asset_check,
    run_failure_sensor,
    sensor,
)

from alocity_etl.monitoring.alerts import (
    key_expiry_message,
    post_alert,
    redact,
    run_failure_message,
    threshold_label,
)
from alocity_etl.monitoring.key_expiry import KEY_LIFETIME, KeyExpiry, KeyExpiryError, resolve_expiry
from alocity_etl.settings import Settings
from alocity_etl.warehouse import WarehouseLockedError

KEY_ASSET = AssetKey("alocity_access_key")
KEY_CHECK = "access_key_expiry"
THRESHOLDS = (30, 14, 7, 3, 1, 0)  # days left; 0 = expired
Clock = Callable[[], datetime]


def _wall_clock() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- pure decision


@dataclass
class KeyCursor:
    """What the sensor remembers between ticks (JSON in the sensor cursor)."""

    key_id: str | None = None  # fingerprint + expiry date: a new key or date starts over
    alerted: list[int] = field(default_factory=list)  # thresholds already posted
    day: int | None = None  # days left last reported to the asset (one observation a day)
    first_seen: dict[str, str] = field(default_factory=dict)  # fingerprint -> ISO, for the estimate

    @classmethod
    def load(cls, raw: str | None) -> "KeyCursor":
        try:
            data = json.loads(raw) if raw else {}
            return cls(
                data.get("key_id"),
                [int(t) for t in data.get("alerted", [])],
                data.get("day"),
                {str(k): str(v) for k, v in (data.get("first_seen") or {}).items()},
            )
        except (ValueError, TypeError, AttributeError):
            return cls()  # an unreadable cursor costs at most one repeated alert

    def dump(self) -> str:
        return json.dumps(
            {
                "key_id": self.key_id,
                "alerted": sorted(self.alerted, reverse=True),
                "day": self.day,
                "first_seen": self.first_seen,
            }
        )

    def known_first_seen(self) -> dict[str, datetime]:
        out = {}
        for fp, iso in self.first_seen.items():
            try:
                out[fp] = datetime.fromisoformat(iso)
            except ValueError:
                continue
        return out


def key_id(expiry: KeyExpiry) -> str:
    return f"{expiry.fingerprint or 'no-key'}@{expiry.expires_at.date().isoformat()}"


def threshold_reached(expiry: KeyExpiry, now: datetime) -> int | None:
    """The tightest threshold reached (0 = expired), None while more than 30 days are left."""
    if expiry.expired(now):
        return 0
    days = expiry.days_left(now)
    reached = [t for t in THRESHOLDS if t > 0 and days <= t]
    return min(reached) if reached else None


def severity_for(expiry: KeyExpiry, now: datetime) -> AssetCheckSeverity | None:
    if expiry.expired(now) or expiry.days_left(now) < 1:
        return AssetCheckSeverity.ERROR
    if expiry.days_left(now) <= THRESHOLDS[0]:
        return AssetCheckSeverity.WARN
    return None


def _metadata(expiry: KeyExpiry, now: datetime) -> dict[str, object]:
    return {
        "expires_at": MetadataValue.timestamp(expiry.expires_at),
        "days_left": expiry.days_left(now),
        "source": expiry.source,
        "key_fingerprint": expiry.fingerprint or "(no key set)",
    }


def expiry_check_result(expiry: KeyExpiry, now: datetime) -> AssetCheckResult:
    sev = severity_for(expiry, now)
    return AssetCheckResult(
        asset_key=KEY_ASSET,
        check_name=KEY_CHECK,
        passed=sev is None,
        severity=sev or AssetCheckSeverity.WARN,
        metadata=_metadata(expiry, now),
        description=key_expiry_message(expiry, now) if sev else None,
    )


def evaluate_key(
    context: SensorEvaluationContext,
    expiry: KeyExpiry,
    now: datetime,
    url: str | None,
    partition: str | None = None,
) -> SensorResult:
    """One tick for a known expiry: alert on a newly reached threshold, else skip.
    `partition`: the account, with an accounts file (the key asset is partitioned by account)."""
    cur = KeyCursor.load(context.cursor)
    kid = key_id(expiry)
    if cur.key_id != kid:
        cur = KeyCursor(key_id=kid)
    if expiry.is_estimate and expiry.fingerprint:
        cur.first_seen = {expiry.fingerprint: (expiry.expires_at - KEY_LIFETIME).isoformat()}
    days = expiry.days_left(now)
    threshold = threshold_reached(expiry, now)
    new_alert = threshold is not None and threshold not in cur.alerted
    events: list[AssetObservation | AssetCheckEvaluation] = []
    if new_alert or cur.day != days:
        cur.day = days
        result = expiry_check_result(expiry, now)
        events.append(
            AssetObservation(asset_key=KEY_ASSET, metadata=_metadata(expiry, now), partition=partition)
        )
        if partition is None:  # per account the observation carries it (no partitioned check)
            events.append(
                AssetCheckEvaluation(
                    asset_key=KEY_ASSET,
                    check_name=KEY_CHECK,
                    passed=result.passed,
                    severity=result.severity,
                    metadata=result.metadata,
                    description=result.description,
                )
            )
    whose = f"Alocity access key of account {expiry.account}" if expiry.account else "Alocity access key"
    if threshold is None:
        reason = (
            f"{whose}: {days} days left (expires {expiry.expires_at:%Y-%m-%d}, date from {expiry.source})"
        )
        return SensorResult(skip_reason=reason, cursor=cur.dump(), asset_events=events)
    message = key_expiry_message(expiry, now)
    if new_alert:
        context.log.warning(message)
        delivered = post_alert(message, url) if url else False
        if delivered or not url:
            # Everything up to this threshold counts as alerted: jumping from 40 to 5 days
            # left sends one alert (7 days), not three.
            cur.alerted = sorted({*cur.alerted, *(t for t in THRESHOLDS if t >= threshold)}, reverse=True)
        else:
            context.log.warning("alert webhook delivery failed; will retry on the next tick")
    reason = f"{whose}: {threshold_label(threshold)} threshold reached ({days} days left). {message}"
    return SensorResult(skip_reason=reason, cursor=cur.dump(), asset_events=events)


# ---------------------------------------------------------------- Dagster objects

alocity_access_key = AssetSpec(
    key=KEY_ASSET,
    description=(
        "The Alocity access key (ALOCITY_ACCESS_KEY): observed by the alocity_access_key_sensor, "
        "which reports days left until expiry. Only a fingerprint of the key is ever shown."
    ),
    group_name="alocity",
    kinds={"alocity"},
)


def build_access_key_sensor(
    settings: Settings, clock: Clock = _wall_clock, name: str = "alocity_access_key_sensor"
) -> SensorDefinition:
    """The key-expiry sensor; tests pass a fixed ``clock``."""

    @sensor(
        name=name,
        minimum_interval_seconds=settings.monitoring.key_sensor_interval_s,
        default_status=DefaultSensorStatus.RUNNING,
        description="Warns at 30, 14, 7, 3 and 1 days before the Alocity access key expires, and at expiry.",
    )
    def _sensor(context: SensorEvaluationContext) -> SensorResult:
        now = clock()
        try:
            known = KeyCursor.load(context.cursor).known_first_seen()
            expiry = resolve_expiry(settings, now=now, known_first_seen=known)
        except KeyExpiryError as exc:
            context.log.error(str(exc))
            return SensorResult(
                skip_reason=f"cannot tell when the access key expires: {exc}", cursor=context.cursor
            )
        except WarehouseLockedError:
            return SensorResult(
                skip_reason="warehouse busy (a sync holds it); the key's first-seen date is read next tick",
                cursor=context.cursor,
            )
        return evaluate_key(context, expiry, now, settings.monitoring.webhook_url, settings.account)

    return _sensor


def build_access_key_check(settings: Settings) -> AssetChecksDefinition:
    @asset_check(
        asset=KEY_ASSET,
        name=KEY_CHECK,
        description="Fails (WARN) within 30 days of the access key's expiry, ERROR within a day or after.",
    )
    def access_key_expiry_check() -> AssetCheckResult:
        now = _wall_clock()
        return expiry_check_result(resolve_expiry(settings, now=now), now)

    return access_key_expiry_check


def _failure_error(context: RunFailureSensorContext) -> str | None:
    """First step error of the failed run, else the run failure event's message."""
    try:
        for ev in context.get_step_failure_events():
            err = getattr(ev.event_specific_data, "error", None)
            # Dagster wraps the op's exception ("Error occurred while executing op"):
            # the innermost cause is the error the user can act on.
            while err is not None and getattr(err, "cause", None) is not None:
                err = err.cause
            if err is not None and err.message:
                return err.message
    except Exception:  # older runs without step events: fall back to the run message
        pass
    return context.failure_event.message if context.failure_event else None


def build_run_failure_sensor(settings: Settings) -> SensorDefinition:
    @run_failure_sensor(
        name="alocity_run_failure_alert",
        default_status=DefaultSensorStatus.RUNNING,
        description="Posts failed runs (job, run id, first error line) to ALOCITY_ALERT_WEBHOOK_URL.",
    )
    def _sensor(context: RunFailureSensorContext) -> None:
        url = settings.monitoring.webhook_url
        run = context.dagster_run
        keys = [a.api.access_key.reveal().strip() for a in settings.accounts] or [
            settings.api.access_key.reveal().strip()
        ]
        text = redact(run_failure_message(run.job_name, run.run_id, _failure_error(context)), keys)
        if not url:
            context.log.info(f"no ALOCITY_ALERT_WEBHOOK_URL set; not posting: {text}")
            return
        if not post_alert(text, url, secrets=keys):
            context.log.warning("could not post the run-failure alert (see the code server log)")

    return _sensor


@dataclass(frozen=True)
class Monitoring:
    """The monitoring pieces of the one Definitions."""

    assets: list[AssetSpec]
    asset_checks: list[AssetChecksDefinition]
    sensors: list[SensorDefinition]


def build_monitoring(settings: Settings) -> Monitoring:
    if settings.multi_account:
        # One key per account: the key asset is partitioned by account, and each account has
        # its own sensor (its own cursor: each warning once per account), named after it.
        names = settings.account_names()
        return Monitoring(
            assets=[alocity_access_key.replace_attributes(partitions_def=StaticPartitionsDefinition(names))],
            asset_checks=[],
            sensors=[
                *(
                    build_access_key_sensor(settings.for_account(n), name=f"alocity_access_key_sensor_{n}")
                    for n in names
                ),
                build_run_failure_sensor(settings),
            ],
        )
    return Monitoring(
        assets=[alocity_access_key],
        asset_checks=[build_access_key_check(settings)],
        sensors=[build_access_key_sensor(settings), build_run_failure_sensor(settings)],
    )
