"""Routers of the service, and the dependencies they share (API-key authentication).

Authentication is optional: with ``HOTLINE_API_KEYS`` empty every route is open. With keys set,
every ``/v1/...`` route needs ``Authorization: Bearer <key>``; ``/health``, ``/ready``,
``/metrics`` and the docs stay open so that orchestrators and Prometheus need no secret.
"""

from __future__ import annotations

import hmac
import math
from datetime import date, datetime
from typing import Any

from fastapi import Request

from serving.errors import Unauthorized


async def require_api_key(request: Request) -> None:
    """FastAPI dependency: check the Bearer key when the service has keys configured."""
    keys: list[str] = request.app.state.settings.api_keys
    if not keys:
        return
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


def jsonable(value: Any) -> Any:
    """A store or pandas cell as JSON: NaN/NaT -> null, timestamps -> ISO text, lists recursively."""
    import pandas as pd

    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (datetime, date)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if hasattr(value, "isoformat"):
        try:
            return None if pd.isna(value) else value.isoformat(sep=" ")
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if hasattr(value, "item") and not isinstance(value, str):
        return jsonable(value.item())
    return value
