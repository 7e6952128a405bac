"""Routers of the service, and what they share: API-key authentication and date parameters.

Authentication is optional: with ``HOTLINE_API_KEYS`` empty every route is open. With keys set,
every ``/v1/...`` route needs ``Authorization: Bearer <key>``; ``/health``, ``/ready``,
``/metrics`` and the docs stay open so that orchestrators and Prometheus need no secret.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from fastapi import Request

from serving.deps import SettingsDep
from serving.errors import InvalidInput, ServiceError, Unauthorized

if TYPE_CHECKING:
    import pandas as pd


async def require_api_key(request: Request, settings: SettingsDep) -> None:
    """FastAPI dependency: check the Bearer key when the service has keys configured."""
    keys: list[str] = settings.api_keys
    if not keys:
        return
    _check_bearer(request, keys)


async def require_admin_key(request: Request, settings: SettingsDep) -> None:
    """FastAPI dependency of ``/v1/admin/*``: an admin key, and no admin keys means no admin routes.

    Admin keys are separate from the API keys: a client that may classify must not be able to
    swap the model, and an unconfigured service must not expose reload to anyone.
    """
    keys: list[str] = settings.admin_keys
    if not keys:
        raise ServiceError(
            "admin routes are disabled; set HOTLINE_ADMIN_KEYS to enable them",
            status_code=403,
            error_type="admin_disabled",
        )
    _check_bearer(request, keys)


def _check_bearer(request: Request, keys: list[str]) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing API key; send `Authorization: Bearer <key>`")
    token = token.strip()
    # compare_digest against every key: the time taken does not say which key came close.
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(token.encode(), key.encode())
    if not ok:
        raise Unauthorized("invalid API key")


# Dates far outside this range are typos or probes; pandas cannot even represent most of them.
MIN_YEAR, MAX_YEAR = 1900, 2200


def parse_time(value: str | None, name: str, *, date_only: bool = False) -> pd.Timestamp | None:
    """A caller's date/time as a naive ``pd.Timestamp`` (``None`` for empty), or 422.

    Complaint times are local wall-clock times without a zone (as the hotline exports them);
    a zone-aware time cannot be compared with them, so it is refused rather than guessed at.
    """
    import pandas as pd

    from nlp.pii import mask_excerpt

    if value is None or value == "":
        return None
    hint = "use YYYY-MM-DD" if date_only else "use YYYY-MM-DD HH:MM:SS"
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        ts = None
    if ts is None or pd.isna(ts):
        raise InvalidInput(f"{name}={mask_excerpt(value)!r} is not a date; {hint}")
    if ts.tzinfo is not None:
        raise InvalidInput(
            f"{name}={mask_excerpt(value)!r} has a time zone; send local time without an offset or `Z` ({hint})"
        )
    if not MIN_YEAR <= ts.year <= MAX_YEAR:
        raise InvalidInput(f"{name}: year {ts.year} is out of range ({MIN_YEAR}-{MAX_YEAR})")
    return ts
