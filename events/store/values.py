"""Values on their way into the store: SQL scalars, masked text, places, JSON cells.

Only masked text is stored: every free-text value passes :func:`nlp.pii.mask_pii` here
(:func:`masked`, :func:`mask_json`), and a place value that holds personal data (a phone number
typed into the district column) becomes unknown (:func:`clean_place`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timezone
from typing import Any

import pandas as pd

from common.jsonsafe import json_safe
from nlp.pii import PLACEHOLDERS, mask_pii

UNKNOWN_DISTRICT = "未知"


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def is_place_value(value: Any) -> bool:
    """False for an empty value and for one that holds personal data, masked or not: a phone
    number in the district column is not a place and must not become a series key."""
    s = text(value).strip()
    if not s:
        return False
    if any(p in s for p in PLACEHOLDERS.values()):
        return False
    return mask_pii(s) == s


def clean_place(value: Any, limit: int | None = None) -> str:
    """``value`` as a place name, or ``""`` (unknown) when it is empty or holds personal data."""
    s = text(value).strip()
    if not is_place_value(s):
        return ""
    return s[:limit] if limit else s


def clean_location_key(value: Any, limit: int = 256) -> str:
    # district|street|place: each part on its own, so one bad part does not hide the others.
    parts = [clean_place(p) for p in text(value).split("|")]
    return "|".join(parts)[:limit] if any(parts) else ""


def masked(value: Any, limit: int | None = None) -> str:
    # Mask before cutting: a cut could leave a partial number the patterns no longer see.
    s = mask_pii(text(value))
    return s[:limit] if limit else s


def mask_json(value: Any) -> Any:
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, dict):
        return {k: mask_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_json(v) for v in value]
    return value


def json_value(value: Any) -> Any:
    """A value for a JSON column: JSON text parsed, then plain JSON values (NaN -> None)."""
    if isinstance(value, str):
        try:
            return json_safe(json.loads(value))
        except json.JSONDecodeError:
            return value
    return json_safe(value)


def scalar(value: Any) -> Any:
    """A plain Python value for a SQL column (numpy scalars unwrapped, NaN/NaT -> None)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return value
    return value


def dt(value: Any) -> datetime | None:
    v = scalar(value)
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.replace(tzinfo=None) if v.tzinfo else v
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day)
    try:
        ts = pd.Timestamp(v)
    except (ValueError, TypeError):
        return None
    if pd.isna(ts):
        return None
    return ts.tz_localize(None).to_pydatetime() if ts.tzinfo else ts.to_pydatetime()


def day(value: Any) -> date | None:
    v = dt(value)
    return v.date() if v is not None else None


def text(value: Any, limit: int | None = None) -> str:
    v = scalar(value)
    if v is None:
        return ""
    s = str(v)
    return s[:limit] if limit else s


def num(value: Any) -> float | None:
    v = scalar(value)
    return None if v is None else float(v)


def as_records(
    data: pd.DataFrame | Sequence[dict[str, Any]] | Iterable[dict[str, Any]],
) -> list[dict[str, Any]]:
    if isinstance(data, pd.DataFrame):
        return data.to_dict(orient="records")
    return [dict(r) for r in data]
