"""The alerts aggregate: surge alerts that forecasting raises (:mod:`forecasting.alerts`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pandas as pd
import sqlalchemy as sa

from events.store.errors import StoreError
from events.store.schema import ALERT_COLUMNS, ALERT_KINDS
from events.store.sql import Repository
from events.store.values import as_records, day, dt, json_value, mask_json, masked, num, text, utcnow
from nlp.pii import mask_pii


class AlertRepository(Repository):
    """Table ``alerts``, keyed by a deterministic ``alert_id``."""

    def upsert(self, records: pd.DataFrame | Sequence[dict[str, Any]]) -> int:
        """Insert or update surge alerts (forecasting writes these); returns rows written.

        Each record has ``alert_id`` (required, deterministic string key), ``date`` (the day the
        alert is for, required), ``kind`` (``"interval"``, ``"burst"`` or ``"incident"``),
        ``series_key`` (e.g. ``"category=供水供电燃气|district=江北区"``), the floats
        ``observed``, ``expected``, ``lower``, ``upper``, ``size`` (excess count), ``growth``
        (ratio) and ``score`` (rank score), the JSON lists ``incident_ids``, ``examples``
        (representative complaint texts - masked again here) and ``keywords``, and the
        timestamps ``first_seen``, ``last_seen`` and ``created_at`` (default now; kept when the
        alert is written again). Writing the same alerts twice leaves one row each.
        """
        now = utcnow()
        rows = []
        for i, r in enumerate(as_records(records)):
            aid = text(r.get("alert_id"))
            if not aid:
                raise StoreError(f"alerts.upsert: record {i} has no alert_id")
            when = day(r.get("date"))
            if when is None:
                raise StoreError(f"alerts.upsert: alert {aid!r} has no valid date (YYYY-MM-DD)")
            kind = text(r.get("kind"))
            if kind not in ALERT_KINDS:
                raise StoreError(
                    f"alerts.upsert: alert {aid!r} has kind {kind!r}; expected one of {ALERT_KINDS}"
                )
            examples = json_value(r.get("examples"))
            if isinstance(examples, list):
                examples = [mask_pii(e) if isinstance(e, str) else mask_json(e) for e in examples]
            elif isinstance(examples, str):
                examples = [mask_pii(examples)]

            rows.append(
                {
                    "alert_id": aid[:128],
                    "created_at": dt(r.get("created_at")) or now,
                    "date": when,
                    "series_key": masked(r.get("series_key"), 256),
                    "kind": kind,
                    "observed": num(r.get("observed")),
                    "expected": num(r.get("expected")),
                    "lower": num(r.get("lower")),
                    "upper": num(r.get("upper")),
                    "size": num(r.get("size")),
                    "growth": num(r.get("growth")),
                    "score": num(r.get("score")),
                    "incident_ids": json_value(r.get("incident_ids")) or [],
                    "examples": examples or [],
                    "keywords": mask_json(json_value(r.get("keywords"))) or [],
                    "first_seen": dt(r.get("first_seen")),
                    "last_seen": dt(r.get("last_seen")),
                }
            )
        return self._upsert("alerts", rows)

    def read(
        self, since: date | str | None = None, limit: int | None = 100, *, kind: str | None = None
    ) -> pd.DataFrame:
        """Alerts for days on/after ``since``, highest ``score`` first (then newest date), at most
        ``limit`` (``None``: all). ``date`` comes back as ``YYYY-MM-DD``."""
        t = self.tables["alerts"]
        q = sa.select(*(t.c[c] for c in ALERT_COLUMNS))
        if since is not None:
            q = q.where(t.c.date >= day(since))
        if kind:
            q = q.where(t.c.kind == kind)
        q = q.order_by(t.c.score.desc(), t.c.date.desc(), t.c.alert_id)
        if limit is not None:
            q = q.limit(int(limit))
        df = self._read(q)
        if len(df):
            df["date"] = pd.to_datetime(df["date"]).dt.strftime("%Y-%m-%d")
        return df
