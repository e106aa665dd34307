"""POST each new alert (its contract §6 JSON object) to a webhook, with a timeout and retries.

Every alert is tried; the ones that still fail are returned, so the caller can report them
rather than lose them. Receivers can de-duplicate on the `Idempotency-Key` (the alert id).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from detector import __version__
from detector.export.alerts import Alert
from detector.export.jsonl import dumps

TRIES = 3
TIMEOUT_SECONDS = 10.0
BACKOFF_SECONDS = 1.0  # doubled after each failed try
# Statuses worth another try; any other 4xx means the receiver will never accept this body.
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Delivery:
    """How one alert's delivery ended."""

    alert_id: str
    delivered: bool
    attempts: int
    error: str | None = None


def check_url(url: str) -> str:
    """Accept only absolute http(s) URLs: urllib would also open `file:` and `ftp:`."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"webhook must be an http:// or https:// URL, not {url!r}")
    return url


def _post_once(url: str, body: bytes, alert_id: str, timeout: float) -> tuple[bool, bool, str | None]:
    """(delivered, retryable, error) for one attempt."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": f"distillguard/{__version__}",
            "Idempotency-Key": alert_id,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # scheme checked by check_url
            response.read()
            return True, False, None
    except urllib.error.HTTPError as exc:
        return False, exc.code in RETRYABLE, f"HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, True, f"{type(exc).__name__}: {reason}"


def deliver(
    url: str,
    alerts: Sequence[Alert],
    *,
    tries: int = TRIES,
    timeout: float = TIMEOUT_SECONDS,
    backoff: float = BACKOFF_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Delivery]:
    """Try every alert up to `tries` times, waiting `backoff`, twice `backoff`, ... between tries."""
    check_url(url)
    results: list[Delivery] = []
    for alert in alerts:
        body = dumps(alert.to_json_obj()).encode("utf-8")
        error: str | None = None
        attempt = 0
        delivered = False
        while attempt < tries:
            attempt += 1
            delivered, retryable, error = _post_once(url, body, alert.alert_id, timeout)
            if delivered or not retryable:
                break
            if attempt < tries:
                sleep(backoff * 2 ** (attempt - 1))
        results.append(Delivery(alert.alert_id, delivered, attempt, None if delivered else error))
    return results


def failure_message(results: Sequence[Delivery]) -> str | None:
    """One line naming the undelivered alerts, or None when all arrived."""
    failed = [r for r in results if not r.delivered]
    if not failed:
        return None
    first = failed[0]
    return (
        f"webhook: {len(failed)} of {len(results)} new alerts not delivered "
        f"(first: {first.alert_id} after {first.attempts} tries: {first.error})"
    )
