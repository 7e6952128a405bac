"""Personal data and spreadsheet formulas in output columns.

Every text column a job copies from its input into an output is PII-masked (ids included)
unless the caller names it as kept raw; every string cell a spreadsheet would run as a formula
is neutralised unless the output is for machines only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from common.errors import ColumnNotFoundError
from nlp.pii import mask_pii

# OWASP CSV-injection guidance: a spreadsheet evaluates a cell that starts with one of these.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralize_formula(value: Any) -> Any:
    """Prefix a single quote to a string cell a spreadsheet would run as a formula.

    Only strings are touched: a negative number is a number, not a formula.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def is_text_column(series: pd.Series) -> bool:
    return series.dtype == object or pd.api.types.is_string_dtype(series.dtype)


def guard_formulas(frame: pd.DataFrame, *, index: bool = False) -> pd.DataFrame:
    """A copy of ``frame`` with :func:`neutralize_formula` applied to every string cell."""
    out = frame.copy()
    for col in out.columns:
        if is_text_column(out[col]):
            out[col] = out[col].map(neutralize_formula)
    out.columns = pd.Index([neutralize_formula(str(c)) for c in out.columns], name=out.columns.name)
    if index and is_text_column(out.index.to_series()):
        out.index = pd.Index([neutralize_formula(v) for v in out.index], name=out.index.name)
    return out


def _mask_cell(value: Any) -> Any:
    if isinstance(value, str):
        return mask_pii(value)
    # A phone or ID typed into a spreadsheet cell arrives as a number inside a text column.
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1_000_000:
        masked = mask_pii(str(value))
        return masked if masked != str(value) else value
    return value


def mask_columns(frame: pd.DataFrame, keep_raw: Iterable[str] = ()) -> pd.DataFrame:
    """A copy of ``frame`` with :func:`mask_pii` applied to every free-text column.

    Free text is any object/string column, ids included (a phone number typed into the id or
    district field is as personal as one in the complaint). Numeric and datetime columns pass
    through. ``keep_raw`` names columns the caller explicitly wants unmasked.
    """
    keep = {str(c) for c in keep_raw}
    out = frame.copy()
    for col in out.columns:
        if str(col) not in keep and is_text_column(out[col]):
            out[col] = out[col].map(_mask_cell)
    return out


def check_keep_raw(keep_raw: Sequence[str], columns: Iterable[str], *, path: str | os.PathLike[str]) -> None:
    """Fail when ``--keep-raw-columns`` names a column the file does not have (a typo would
    otherwise silently keep nothing raw, or worse, be read as keeping everything)."""
    have = {str(c) for c in columns}
    missing = [c for c in keep_raw if c not in have]
    if missing:
        raise ColumnNotFoundError(
            f"--keep-raw-columns names {', '.join(map(repr, missing))}, which the file does not have; "
            f"the file has: {', '.join(sorted(have))}",
            path=str(path),
        )
