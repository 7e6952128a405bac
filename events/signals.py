"""Daily signals per category × district, with the Chinese working-day calendar.

The forecasting heads read one row per day × category × district (the contract, in this column
order; new columns are only ever added at the end):

===============  ================================================================================
``date``         ``YYYY-MM-DD``
``category``     the latest stored prediction's label, else the log's label, else ``未分类``
``district``     the district the grouping resolved (log column, else the text), else ``未知``
``calls``        complaints that day (int)
``incidents``    distinct incidents with at least one complaint that day (int); a complaint
                 that has not been grouped yet counts as an incident of its own
``new_incidents`` incidents whose first complaint is that day (int)
``weekday``      0 = Monday ... 6 = Sunday
``is_holiday``   a statutory public holiday day off (法定节假日, including the weekend days inside
                 a holiday period such as 国庆 1-7 October); ordinary weekends are ``False``
``is_workday``   an official working day: Monday-Friday outside holidays, plus the make-up
                 working days (调休) that fall on a weekend, which are ``True``
``holiday_name`` the holiday's Chinese name (春节, 国庆节 ...) on holiday days off, else ``""``
===============  ================================================================================

Rows are zero-filled: every category × district pair seen anywhere gets a row for every day
from the first to the last complaint. The calendar comes from ``chinese_calendar`` (which
covers 2004 up to the year its release knows, 2026 for 1.11); outside those years the
fallback is: Monday-Friday are working days, and only the fixed-date holidays (元旦 1 January,
劳动节 1 May, 国庆节 1-3 October) are holidays - a warning says so once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date

import pandas as pd

from events.calendar import day_calendar
from events.store import SIGNAL_COLUMNS, UNKNOWN_DISTRICT, EventStore, clean_place
from nlp.pii import mask_pii

logger = logging.getLogger(__name__)

UNKNOWN_CATEGORY = "未分类"


def calendar_features(dates: Iterable[date | str | pd.Timestamp]) -> pd.DataFrame:
    """``date`` (YYYY-MM-DD), ``weekday``, ``is_holiday``, ``is_workday``, ``holiday_name`` per date."""
    days = pd.DatetimeIndex(pd.to_datetime(list(dates))).normalize()
    cal = day_calendar(days)[["weekday", "is_holiday", "is_workday", "holiday_name"]].reset_index(drop=True)
    cal.insert(0, "date", days.strftime("%Y-%m-%d"))
    return cal.astype({"weekday": int, "is_holiday": bool, "is_workday": bool})


def build_signals(
    complaints: pd.DataFrame,
    *,
    start: date | str | None = None,
    end: date | str | None = None,
) -> pd.DataFrame:
    """Signals (:data:`events.store.SIGNAL_COLUMNS`) from one row per complaint.

    ``complaints`` needs ``id``, ``time``, ``category``, ``district`` and ``incident_id``
    (``None`` for complaints not grouped yet). Complaints without a time are left out (they
    cannot be placed on a day). ``start``/``end`` widen (never narrow) the zero-filled range.
    """
    df = complaints.copy()
    df["time"] = pd.to_datetime(df["time"], errors="coerce")
    undated = int(df["time"].isna().sum())
    if undated:
        logger.warning("%d complaint(s) without a time are not counted in the daily signals", undated)
    df = df[df["time"].notna()]
    if df.empty:
        return pd.DataFrame(columns=list(SIGNAL_COLUMNS))
    df["category"] = (
        df["category"].fillna("").astype(str).str.strip().map(mask_pii).replace("", UNKNOWN_CATEGORY)
    )
    # A district that holds personal data (masked or not) is not a place: it must not become a
    # series key, so it counts as unknown.
    df["district"] = df["district"].map(clean_place).replace("", UNKNOWN_DISTRICT)
    df["day"] = df["time"].dt.normalize()
    inc = df["incident_id"].astype(object).where(df["incident_id"].notna(), None)
    # An ungrouped complaint is its own incident (so incidents <= calls always holds).
    df["incident"] = [
        i if isinstance(i, str) and i else f"single:{cid}" for i, cid in zip(inc, df["id"], strict=True)
    ]

    keys = ["day", "category", "district"]
    calls = df.groupby(keys).size().rename("calls")
    incidents = df.groupby(keys)["incident"].nunique().rename("incidents")
    first = df.sort_values(["time", "id"]).drop_duplicates("incident", keep="first")
    new = first.groupby(keys).size().rename("new_incidents")

    lo = df["day"].min()
    hi = df["day"].max()
    if start is not None:
        lo = min(lo, pd.Timestamp(start).normalize())
    if end is not None:
        hi = max(hi, pd.Timestamp(end).normalize())
    days = pd.date_range(lo, hi, freq="D")
    pairs = df[["category", "district"]].drop_duplicates().sort_values(["category", "district"])
    grid = pd.MultiIndex.from_tuples(
        [(d, c, k) for d in days for c, k in pairs.itertuples(index=False)], names=keys
    )
    out = pd.concat([calls, incidents, new], axis=1).reindex(grid).fillna(0).astype(int).reset_index()
    cal = calendar_features(days).set_index(pd.DatetimeIndex(days))
    out = out.join(cal.drop(columns="date"), on="day")
    out["date"] = out["day"].dt.strftime("%Y-%m-%d")
    return out[list(SIGNAL_COLUMNS)].sort_values(["date", "category", "district"]).reset_index(drop=True)


def signal_source_frame(store: EventStore) -> pd.DataFrame:
    """One row per stored complaint with the category and district the signals use."""
    src = store.signals.source()
    if src.empty:
        return pd.DataFrame(columns=["id", "time", "category", "district", "incident_id"])
    preds = store.complaints.read_predictions()
    pred_label = dict(zip(preds["complaint_id"], preds["label"], strict=True)) if len(preds) else {}
    # The prediction wins (it may have been written after the events run), then the category the
    # events run resolved, then the log's label.
    category = [
        pred_label.get(cid) or (cat if isinstance(cat, str) and cat else "") or (lab or "")
        for cid, cat, lab in zip(src["id"], src["category"], src["label"], strict=True)
    ]
    district = [
        clean_place(d) or clean_place(r) for d, r in zip(src["district"], src["raw_district"], strict=True)
    ]
    return pd.DataFrame(
        {
            "id": src["id"],
            "time": src["time"],
            "category": category,
            "district": district,
            "incident_id": src["incident_id"],
        }
    )


def refresh_signals(store: EventStore) -> pd.DataFrame:
    """Recompute the signals from everything in the store and replace the ``signals`` table.

    Recomputing from the stored complaints (rather than adding a batch's counts) is what makes
    re-loading a batch harmless: counts can never be doubled.
    """
    signals = build_signals(signal_source_frame(store))
    store.signals.replace(signals)
    return signals
