"""The complaints aggregate: a complaint, its classifier predictions and its extracted events.

Keyed by complaint id (predictions by id + model version). Loading the same records twice
leaves the tables unchanged; creation timestamps are kept on conflict. Every text value is
PII-masked on its way in, a place value that held personal data is stored as unknown, and an
id that held some is masked (:meth:`events.store.meta.Callers.safe_id`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from events.store.errors import StoreError
from events.store.schema import PLACE_COLUMNS
from events.store.sql import Repository
from events.store.values import (
    as_records,
    clean_location_key,
    clean_place,
    dt,
    is_place_value,
    json_value,
    mask_json,
    masked,
    scalar,
    text,
    utcnow,
)
from nlp.pii import mask_pii


def content_hash(title: str, text: str) -> str:
    """Hash of a complaint's masked title and text (what a re-load compares)."""
    return hashlib.sha1(f"{title}\x00{text}".encode()).hexdigest()


class ComplaintRepository(Repository):
    """Tables ``complaints``, ``predictions`` and ``complaint_events``."""

    def __init__(
        self,
        engine: sa.Engine,
        tables: dict[str, sa.Table],
        safe_id: Callable[[Any], str],
        caller_key: Callable[[Any], str | None],
    ) -> None:
        super().__init__(engine, tables, safe_id)
        self.caller_key = caller_key

    # -- complaints -----------------------------------------------------------------------------

    def upsert(self, records: pd.DataFrame, *, source: str = "") -> int:
        """Insert or update complaints; returns the number of rows written.

        ``records`` is a canonical DataFrame from :mod:`ingest` (``ComplaintReader`` chunks or
        ``read_complaints``): column ``id`` (required, unique key) and any of ``title``,
        ``text``, ``time``, ``district``, ``label``, ``row``; optionally ``caller`` (hashed
        here with :meth:`events.store.meta.Callers.key` unless it already is such a key) and
        ``likes``. Every text value is PII-masked before it is stored; a district that held
        personal data is stored as unknown (``""``) and an id that did is masked. Loading the
        same records twice leaves the table unchanged.
        """
        if "id" not in records.columns:
            raise StoreError("complaints.upsert: the records have no 'id' column (read them with ingest)")
        now = utcnow()
        rows = []
        for r in as_records(records):
            cid = self.safe_id(r.get("id"))
            if not cid:
                continue
            title = mask_pii(text(r.get("title")))
            body = mask_pii(text(r.get("text")))
            caller = self.caller_key(scalar(r.get("caller")))
            likes = scalar(r.get("likes"))
            rows.append(
                {
                    "id": cid,
                    "time": dt(r.get("time")),
                    "title": title,
                    "text": body,
                    "district": clean_place(r.get("district"), 64),
                    "label": masked(r.get("label"), 128),
                    "caller": caller,
                    "likes": int(likes) if isinstance(likes, (int, float)) and not math.isnan(likes) else 0,
                    "source": masked(r.get("source") or source, 512),
                    "row": int(scalar(r["row"])) if scalar(r.get("row")) is not None else None,
                    "content_hash": content_hash(title, body),
                    "loaded_at": now,
                }
            )
        return self._upsert("complaints", rows)

    def read(
        self,
        ids: Sequence[str] | None = None,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> pd.DataFrame:
        """Stored complaints (masked text), optionally only ``ids`` and/or a time range."""
        t = self.tables["complaints"]
        q = sa.select(t)
        if since is not None:
            q = q.where(t.c.time >= dt(since))
        if until is not None:
            q = q.where(t.c.time <= dt(until))
        return self._read_by_ids(q, t.c.id, ids, order=[t.c.time, t.c.id], complaint_ids=True)

    def stored_state(self, ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """``id -> (content_hash, category of its extracted events or None)`` for stored ids."""
        c = self.tables["complaints"]
        ev = self.tables["complaint_events"]
        q = (
            sa.select(c.c.id, c.c.content_hash, ev.c.category)
            .select_from(c)
            .outerjoin(ev, ev.c.complaint_id == c.c.id)
        )
        found = self._read_by_ids(q, c.c.id, ids, complaint_ids=True)
        return {
            str(i): (
                str(h),
                None if cat is None or (isinstance(cat, float) and math.isnan(cat)) else str(cat),
            )
            for i, h, cat in zip(found["id"], found["content_hash"], found["category"], strict=True)
        }

    def latest_time(self) -> datetime | None:
        """The time of the newest stored complaint (``None``: none has a time)."""
        c = self.tables["complaints"]
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(sa.func.max(c.c.time))).scalar()
        return pd.Timestamp(value).to_pydatetime() if value is not None else None

    def recent_terms(self, limit: int = 5000, *, exclude: set[str] | None = None) -> list[list[str]]:
        """Problem-word lists of the ``limit`` most recent stored complaints (for word weights)."""
        c = self.tables["complaints"]
        ev = self.tables["complaint_events"]
        q = (
            sa.select(ev.c.complaint_id, ev.c.terms)
            .join(c, c.c.id == ev.c.complaint_id)
            .order_by(c.c.time.desc(), ev.c.complaint_id)
            .limit(int(limit) + len(exclude or ()))
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        skip = exclude or set()
        out = [list(t) for cid, t in rows if cid not in skip and isinstance(t, list)]
        return out[:limit]

    # -- predictions ----------------------------------------------------------------------------

    def upsert_predictions(self, predictions: pd.DataFrame) -> int:
        """Insert or update classifier predictions; returns the number of rows written.

        Columns: ``id`` (or ``complaint_id``) and ``label`` (required), ``score`` (probability
        of ``label``), ``model_version`` (default ``"unknown"``; the key is complaint id + model
        version, so a new model adds rows and re-classifying with the same model replaces
        them), ``top_k`` (list of ``{"label", "score"}`` dicts, a dict label -> score, or a JSON
        string of either) and ``needs_review`` (bool).
        """
        df = predictions
        id_col = "complaint_id" if "complaint_id" in df.columns else "id"
        for col in (id_col, "label"):
            if col not in df.columns:
                raise StoreError(
                    f"complaints.upsert_predictions: missing column {col!r} (need id/complaint_id and label)"
                )
        now = utcnow()
        rows = []
        for r in as_records(df):
            cid = self.safe_id(r.get(id_col))
            if not cid:
                continue
            score = scalar(r.get("score"))
            rows.append(
                {
                    "complaint_id": cid,
                    "model_version": masked(r.get("model_version"), 128) or "unknown",
                    "label": masked(r.get("label"), 128),
                    "score": float(score) if score is not None else 0.0,
                    "top_k": mask_json(json_value(r.get("top_k"))),
                    "needs_review": bool(scalar(r.get("needs_review")) or False),
                    "created_at": now,
                }
            )
        return self._upsert("predictions", rows)

    def read_predictions(self, ids: Sequence[str] | None = None, *, latest: bool = True) -> pd.DataFrame:
        """Predictions; with ``latest`` only the newest per complaint (ties: highest model version)."""
        t = self.tables["predictions"]
        df = self._read_by_ids(
            sa.select(t), t.c.complaint_id, ids, order=[t.c.complaint_id], complaint_ids=True
        )
        if latest and len(df):
            df = (
                df.sort_values(["complaint_id", "created_at", "model_version"])
                .groupby("complaint_id", as_index=False)
                .tail(1)
                .reset_index(drop=True)
            )
        return df

    # -- extracted events -----------------------------------------------------------------------

    def upsert_events(self, events: pd.DataFrame) -> int:
        """Event fields per complaint (``id`` + :data:`nlp.events.EVENT_COLUMNS` + ``category``,
        ``category_source``, ``district``). Text is masked; place columns that held personal data
        are stored as unknown (``""``) and such entries are dropped from ``places``."""
        table = self.tables["complaint_events"]
        now = utcnow()
        json_cols = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
        dt_cols = {"event_start", "event_end"}
        rows = []
        for r in as_records(events):
            cid = self.safe_id(r.get("id") if "id" in r else r.get("complaint_id"))
            if not cid:
                continue
            row: dict[str, Any] = {"complaint_id": cid, "extracted_at": now}
            for c in table.columns:
                if c.name in ("complaint_id", "extracted_at"):
                    continue
                v = r.get(c.name)
                if c.name == "places":
                    places = json_value(v)
                    row[c.name] = (
                        [p for p in places if is_place_value(p)] if isinstance(places, list) else places
                    )
                elif c.name in json_cols:
                    row[c.name] = mask_json(json_value(v))
                elif c.name in dt_cols:
                    row[c.name] = dt(v)
                elif c.name == "recurring":
                    row[c.name] = bool(scalar(v) or False)
                elif c.name == "urgency_score":
                    row[c.name] = float(scalar(v) or 0.0)
                elif c.name == "urgency":
                    row[c.name] = masked(v, 8) or "一般"
                elif c.name == "location_key":
                    row[c.name] = clean_location_key(v)
                elif c.name in PLACE_COLUMNS:
                    row[c.name] = clean_place(v, getattr(c.type, "length", None))
                else:
                    length = getattr(c.type, "length", None)
                    row[c.name] = masked(v, length)
            rows.append(row)
        return self._upsert("complaint_events", rows)

    def read_events(self, ids: Sequence[str] | None = None) -> pd.DataFrame:
        t = self.tables["complaint_events"]
        return self._read_by_ids(
            sa.select(t), t.c.complaint_id, ids, order=[t.c.complaint_id], complaint_ids=True
        )
