"""Routers of the service, and the dependencies they share (API-key authentication).

Authentication is optional: with ``HOTLINE_API_KEYS`` empty every route is open. With keys set,
every ``/v1/...`` route needs ``Authorization: Bearer <key>``; ``/health``, ``/ready``,
``/metrics`` and the docs stay open so that orchestrators and Prometheus need no secret.
"""

from __future__ import annotations

import hmac

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
