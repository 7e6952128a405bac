"""One conversion of the values our tables and models produce into plain JSON values.

numpy scalars and arrays, pandas timestamps and missing values, dates, paths and tuples turn up in
store rows, metrics and model cards; every writer of JSON goes through :func:`json_safe` (or uses
:func:`json_default` as ``json.dumps(default=...)``) so that NaN, NaT and infinities become
``null`` the same way everywhere instead of an invalid ``NaN`` token in one file and a string in
another.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from pathlib import PurePath
from typing import Any


def json_safe(value: Any) -> Any:
    """``value`` as JSON-ready Python: NaN/NaT/inf -> None, timestamps -> ISO text, recursively."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, datetime):
        return _isoformat(value)
    if isinstance(value, date):
        return value.isoformat()
    # numpy / pandas without importing them: arrays have tolist, scalars item, Timestamps isoformat
    if hasattr(value, "tolist") and not hasattr(value, "isoformat"):
        return json_safe(value.tolist())
    if _is_missing(value):
        return None
    if hasattr(value, "isoformat"):
        return _isoformat(value)
    if hasattr(value, "item"):
        try:
            return json_safe(value.item())
        except (ValueError, TypeError, AttributeError):
            return str(value)
    return str(value)


def json_default(value: Any) -> Any:
    """``json.dumps(..., default=json_default)``: what :func:`json_safe` makes of a non-JSON value."""
    return json_safe(value)


def dumps(value: Any, *, indent: int | None = 2) -> str:
    """JSON text of ``value`` (Chinese kept readable, NaN as null)."""
    return json.dumps(json_safe(value), ensure_ascii=False, indent=indent, allow_nan=False)


def _isoformat(value: Any) -> str | None:
    if _is_missing(value):
        return None
    try:
        return value.isoformat(sep=" ")
    except TypeError:
        return value.isoformat()


def _is_missing(value: Any) -> bool:
    # pandas.NaT and numpy datetime NaT are not equal to themselves, like NaN
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return False
