"""The signals aggregate: daily counts per date × category × district with calendar features.

The table is a derived one: :func:`events.signals.refresh_signals` recomputes it from the
stored complaints and replaces it whole (:data:`events.store.schema.SIGNAL_COLUMNS` is the
contract forecasting reads).
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import sqlalchemy as sa

from events.store.errors import StoreError
from events.store.schema import SIGNAL_COLUMNS
from events.store.sql import Repository, chunks, where_series
from events.store.values import UNKNOWN_DISTRICT, as_records, clean_place, day, masked, text


class SignalRepository(Repository):
    """Table ``signals`` (and, for recomputing it, one row per stored complaint)."""

    def replace(self, signals: pd.DataFrame) -> int:
        """Replace the whole signals table with ``signals`` (:data:`SIGNAL_COLUMNS`), atomically."""
        missing = [c for c in SIGNAL_COLUMNS if c not in signals.columns]
        if missing:
            raise StoreError(f"signals.replace: missing column(s) {', '.join(missing)}")
        signals = _safe_signal_keys(signals)
        rows = [
            {
                "date": day(r["date"]),
                "category": text(r["category"], 128),
                "district": text(r["district"], 64),
                "calls": int(r["calls"]),
                "incidents": int(r["incidents"]),
                "new_incidents": int(r["new_incidents"]),
                "weekday": int(r["weekday"]),
                "is_holiday": bool(r["is_holiday"]),
                "is_workday": bool(r["is_workday"]),
                "holiday_name": text(r["holiday_name"], 32),
            }
            for r in as_records(signals)
        ]
        with self.engine.begin() as conn:
            conn.execute(self.tables["signals"].delete())
            for batch in chunks(rows, 2000):
                conn.execute(self.tables["signals"].insert(), batch)
        return len(rows)

    def read(
        self,
        start: date | str | None = None,
        end: date | str | None = None,
        *,
        category: str | None = None,
        district: str | None = None,
    ) -> pd.DataFrame:
        """Daily signals (the contract columns :data:`SIGNAL_COLUMNS`, ``date`` as ``YYYY-MM-DD``),
        for ``start <= date <= end`` (inclusive; either may be omitted), sorted by date,
        category, district."""
        t = self.tables["signals"]
        q = sa.select(*(t.c[c] for c in SIGNAL_COLUMNS))
        if start is not None:
            q = q.where(t.c.date >= day(start))
        if end is not None:
            q = q.where(t.c.date <= day(end))
        q = where_series(q, t, category, district)
        q = q.order_by(t.c.date, t.c.category, t.c.district)
        return _signals_frame(self._read(q))

    def source(self) -> pd.DataFrame:
        """One row per stored complaint: time, category, district, incident id (for signals)."""
        c = self.tables["complaints"]
        ev = self.tables["complaint_events"]
        mem = self.tables["incident_members"]
        q = (
            sa.select(
                c.c.id,
                c.c.time,
                c.c.label,
                c.c.district.label("raw_district"),
                ev.c.category,
                ev.c.district,
                mem.c.incident_id,
            )
            .select_from(c)
            .outerjoin(ev, ev.c.complaint_id == c.c.id)
            .outerjoin(mem, mem.c.complaint_id == c.c.id)
            .order_by(c.c.time, c.c.id)
        )
        return self._read(q)


def _safe_signal_keys(signals: pd.DataFrame) -> pd.DataFrame:
    """Series keys without personal data: a district that holds some becomes
    :data:`UNKNOWN_DISTRICT` (rows that then share a key are added up), a category is masked."""
    district = signals["district"].map(lambda d: clean_place(d) or UNKNOWN_DISTRICT)
    category = signals["category"].map(lambda c: masked(c))
    if district.equals(signals["district"].astype(str)) and category.equals(signals["category"].astype(str)):
        return signals
    out = signals.assign(district=district, category=category)
    keys = ["date", "category", "district"]
    counts = out.groupby(keys, as_index=False)[["calls", "incidents", "new_incidents"]].sum()
    calendar = out.drop(columns=["calls", "incidents", "new_incidents"]).drop_duplicates(keys)
    return counts.merge(calendar, on=keys)[list(SIGNAL_COLUMNS)]


def _signals_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "date": pd.to_datetime(df["date"]).dt.strftime("%Y-%m-%d") if len(df) else pd.Series(dtype=str),
            "category": df["category"].astype(str) if len(df) else pd.Series(dtype=str),
            "district": df["district"].astype(str) if len(df) else pd.Series(dtype=str),
            "calls": df["calls"].astype(int) if len(df) else pd.Series(dtype=int),
            "incidents": df["incidents"].astype(int) if len(df) else pd.Series(dtype=int),
            "new_incidents": df["new_incidents"].astype(int) if len(df) else pd.Series(dtype=int),
            "weekday": df["weekday"].astype(int) if len(df) else pd.Series(dtype=int),
            "is_holiday": df["is_holiday"].astype(bool) if len(df) else pd.Series(dtype=bool),
            "is_workday": df["is_workday"].astype(bool) if len(df) else pd.Series(dtype=bool),
            "holiday_name": df["holiday_name"].fillna("").astype(str) if len(df) else pd.Series(dtype=str),
        }
    )
    return out.reset_index(drop=True)
