"""Alerts to a Slack-compatible incoming webhook (``ALOCITY_ALERT_WEBHOOK_URL``). No Dagster here.

`post_alert` never raises: it runs inside sensor loops, where an exception would only
hide the alert's reason. Failures are logged (without the URL's path, which is the
webhook's secret) and reported as False.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urlsplit

import requests

from alocity_etl.monitoring.key_expiry import KeyExpiry

WEBHOOK_VAR = "ALOCITY_ALERT_WEBHOOK_URL"
RENEWAL_HINT = (
    "Within 30 days of expiry Alocity issues a new key when the old one is used; "
    "copy it from Settings -> Integration into ALOCITY_ACCESS_KEY"
)
log = logging.getLogger(__name__)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every secret (the access key, a token) replaced."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "[redacted]")
    return text


def _where(url: str) -> str:
    # Slack-style webhook URLs carry their secret in the path: log only scheme://host.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def post_alert(
    text: str,
    url: str | None,
    *,
    timeout: float = 5.0,
    retries: int = 1,
    retry_delay: float = 1.0,
    secrets: Iterable[str | None] = (),
) -> bool:
    """POST ``{"text": text}`` to the webhook ``url`` (ALOCITY_ALERT_WEBHOOK_URL), ``secrets``
    redacted from it.

    Returns True when delivered, False when no webhook is set or delivery failed
    (logged). One retry by default: a webhook outage must not stall the sensor tick.
    """
    if not url:
        return False
    body = {"text": redact(text, secrets)}
    for attempt in range(retries + 1):
        try:
            resp = requests.post(url, json=body, timeout=timeout)
            if resp.status_code < 300:
                return True
            problem = f"HTTP {resp.status_code}"
        except requests.RequestException as exc:
            problem = type(exc).__name__
        log.warning(
            "alert webhook %s failed (%s), attempt %d/%d", _where(url), problem, attempt + 1, retries + 1
        )
        if attempt < retries:
            time.sleep(retry_delay)
    return False


# ---------------------------------------------------------------- messages


def threshold_label(threshold: int) -> str:
    return "expired" if threshold <= 0 else f"{threshold} day" + ("s" if threshold != 1 else "")


def key_expiry_message(expiry: KeyExpiry, now: datetime) -> str:
    """What happened and what to do, for the access-key alert. Never contains the key."""
    when = expiry.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    fp = (f" of account {expiry.account}" if expiry.account else "") + (
        f" (fingerprint {expiry.fingerprint})" if expiry.fingerprint else ""
    )
    source = f"date from {expiry.source}"
    days = expiry.days_left(now)
    if expiry.expired(now):
        return (
            f":rotating_light: The Alocity access key{fp} EXPIRED on {when} ({source}). "
            "Every Alocity sync now fails. In the Alocity portal, Settings -> Integration, copy the "
            "newest key (or use Reissue Access Key), put it into ALOCITY_ACCESS_KEY, set "
            "ALOCITY_ACCESS_KEY_CREATED_AT to its creation date, and restart the Dagster code location."
        )
    left = "less than a day" if days < 1 else f"{days} day" + ("s" if days != 1 else "")
    estimate = (
        " This date is an estimate: set ALOCITY_ACCESS_KEY_EXPIRES_AT or ALOCITY_ACCESS_KEY_CREATED_AT "
        "for an exact one."
        if expiry.is_estimate
        else ""
    )
    return (
        f":warning: The Alocity access key{fp} expires in {left}, on {when} ({source}); "
        "when it lapses every sync stops. "
        f"{RENEWAL_HINT}, then set ALOCITY_ACCESS_KEY_CREATED_AT to the new key's creation date "
        f"and restart the Dagster code location.{estimate}"
    )


def run_failure_message(job_name: str, run_id: str, error: str | None) -> str:
    text = (error or "").strip()
    first = text.splitlines()[0] if text else "no error message"
    if len(first) > 300:
        first = first[:297] + "..."
    return f":x: Dagster run failed: job {job_name}, run {run_id}: {first}"
