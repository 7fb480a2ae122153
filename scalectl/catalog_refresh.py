"""`scalectl catalog refresh`: update the user-level catalog copy from the providers' price APIs.

Each platform's pricing module fetches its own rows (`Pricing.fetch`: AWS Price List through
boto3, Azure Retail Prices and GCP Cloud Billing Catalog over urllib with `get_json` below);
this module merges them over the current catalog and writes the copy. cost-estimate never
imports it.

Only types the catalog already knows are asked for, so a refresh stays a few dozen calls.
Nothing is written unless every requested provider answered.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from scalectl.catalog import Row, load_catalog, pricing_of, user_path, write_rows
from scalectl.errors import ProviderError, UsageError

Say = Callable[[str], None] | None

HTTP_TIMEOUT = 30.0
RETRIES = 4
MAX_RETRY_WAIT = 10.0


def refresh(providers: list[str], say: Say = None) -> dict[str, Any]:
    """Fetch each provider's rows, merge them over the current catalog, write the user copy."""
    current = load_catalog()
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    fresh: dict[str, list[Row]] = {}
    for name in providers:
        pricing = pricing_of(name)
        if pricing is None:
            raise UsageError(f"provider {name!r} has no price data to refresh")
        if say:
            say(f"{name}: asking the price API ...")
        fresh[name] = pricing.fetch(current, today)
    merged = {_key(r): r for r in current.rows}
    summary: dict[str, dict[str, int]] = {}
    for name, rows in fresh.items():
        for r in rows:
            merged[_key(r)] = r
        updated = {_key(r) for r in rows}
        kept = sum(1 for k, r in merged.items() if r.provider == name and k not in updated)
        summary[name] = {"updated": len(rows), "kept": kept}
    path = user_path()
    write_rows(path, merged.values())
    return {"path": str(path), "date": today, "providers": summary}


def _key(r: Row) -> tuple[str, str, str, str, str, int]:
    return (r.provider, r.kind, r.type, r.region, r.accelerator if r.kind == "gpu" else "", r.accelerator_count)


# ---------------------------------------------------------------- HTTP


def get_json(url: str, headers: dict[str, str], api: str) -> dict[str, Any]:
    """GET a JSON document; throttling (429) and 5xx answers are retried a few times, honouring Retry-After."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})
    for attempt in range(RETRIES + 1):
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                doc: dict[str, Any] = json.loads(response.read().decode("utf-8"))
                return doc
        except urllib.error.HTTPError as exc:
            if (exc.code == 429 or exc.code >= 500) and attempt < RETRIES:
                time.sleep(_retry_after(exc, attempt))
                continue
            detail = _error_detail(exc)
            raise ProviderError(f"{api} answered HTTP {exc.code}{detail}; the catalog was not changed") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ProviderError(
                f"cannot reach {api} ({reason}); offline, cost-estimate keeps using the catalog it has"
            ) from None
        except json.JSONDecodeError:
            raise ProviderError(
                f"{api} answered with something that is not JSON; the catalog was not changed"
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(exc: urllib.error.HTTPError, attempt: int) -> float:
    """The server's Retry-After (seconds, capped), else a short exponential backoff."""
    header = exc.headers.get("Retry-After", "") if exc.headers else ""
    try:
        return min(float(header), MAX_RETRY_WAIT)
    except ValueError:
        return min(0.5 * 2**attempt, MAX_RETRY_WAIT)


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read().decode("utf-8"))
    except (ValueError, OSError):
        return ""
    err = body.get("error", body)
    message = err.get("message") or err.get("Message") if isinstance(err, dict) else str(err)
    return f": {message}" if message else ""
