"""The incidents aggregate: incident summaries and which complaints belong to them.

An incident is keyed by its id (``INC-YYYYMMDD-<hex>``, :func:`events.grouping.incident_id`),
a membership by complaint id (a complaint is in one incident). Summaries (counts, heat,
keywords, description) are recomputed from the members (:mod:`events.hot`) and upserted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from events.store.sql import Repository, where_series
from events.store.values import (
    as_records,
    clean_location_key,
    clean_place,
    dt,
    json_value,
    mask_json,
    masked,
    scalar,
    text,
    utcnow,
)
from nlp.pii import mask_pii

INCIDENT_ORDERS = ("heat", "last_seen", "first_seen")


class IncidentRepository(Repository):
    """Tables ``incidents`` and ``incident_members`` (joined to the complaints for reads)."""

    def upsert(self, incidents: pd.DataFrame) -> int:
        """Incident summaries (one row per ``incident_id``; see :mod:`events.hot`)."""
        now = utcnow()
        rows = []
        for r in as_records(incidents):
            iid = text(r.get("incident_id"))
            if not iid:
                continue
            rows.append(
                {
                    "incident_id": iid,
                    "category": masked(r.get("category"), 128),
                    "district": clean_place(r.get("district"), 64),
                    "location_key": clean_location_key(r.get("location_key")),
                    "anchor": clean_place(r.get("anchor"), 128),
                    "first_seen": dt(r.get("first_seen")),
                    "last_seen": dt(r.get("last_seen")),
                    "n_complaints": int(scalar(r.get("n_complaints")) or 0),
                    "n_callers": int(scalar(r.get("n_callers")) or 0),
                    "likes": int(scalar(r.get("likes")) or 0),
                    "growth": float(scalar(r.get("growth")) or 1.0),
                    "heat": float(scalar(r.get("heat")) or 0.0),
                    "urgency": masked(r.get("urgency"), 8) or "一般",
                    "keywords": mask_json(json_value(r.get("keywords"))),
                    "description": mask_pii(text(r.get("description"))),
                    "representative_id": self.safe_id(r.get("representative_id")) or None,
                    "created_at": now,
                }
            )
        return self._upsert("incidents", rows)

    def upsert_members(self, members: pd.DataFrame) -> int:
        """Incident membership: ``complaint_id`` (or ``id``), ``incident_id``, ``similarity``, ``link``."""
        now = utcnow()
        rows = []
        for r in as_records(members):
            cid = self.safe_id(r.get("complaint_id") or r.get("id"))
            if not cid:
                continue
            rows.append(
                {
                    "complaint_id": cid,
                    "incident_id": text(r.get("incident_id")),
                    "similarity": float(scalar(r.get("similarity")) or 0.0),
                    "link": masked(r.get("link"), 32),
                    "joined_at": now,
                }
            )
        return self._upsert("incident_members", rows)

    def read_members(
        self, incident_ids: Sequence[str] | None = None, *, complaint_ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Membership rows, for some incidents or some complaints (or all)."""
        t = self.tables["incident_members"]
        if complaint_ids is not None:
            return self._read_by_ids(
                sa.select(t), t.c.complaint_id, complaint_ids, order=[t.c.complaint_id], complaint_ids=True
            )
        return self._read_by_ids(
            sa.select(t), t.c.incident_id, incident_ids, order=[t.c.incident_id, t.c.complaint_id]
        )

    def read(
        self,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        category: str | None = None,
        district: str | None = None,
        min_complaints: int = 1,
        limit: int | None = None,
        order: str = "heat",
        ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Incidents active in ``[since, until]`` (last seen on/after ``since``, first seen on/before
        ``until``), filtered by category/district, ordered by ``heat`` (default) or ``last_seen``
        (newest first)."""
        if order not in INCIDENT_ORDERS:
            raise ValueError("order must be 'heat', 'last_seen' or 'first_seen'")
        t = self.tables["incidents"]
        q = sa.select(t).where(t.c.n_complaints >= min_complaints)
        if since is not None:
            q = q.where(t.c.last_seen >= dt(since))
        if until is not None:
            q = q.where(t.c.first_seen <= dt(until))
        q = where_series(q, t, category, district)
        if ids is not None:
            q = q.where(t.c.incident_id.in_([str(i) for i in ids]))
        key = t.c[order]
        q = q.order_by(key.desc(), t.c.incident_id)
        if limit is not None:
            q = q.limit(int(limit))
        return self._read(q)

    def hot(
        self,
        top_n: int = 10,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        category: str | None = None,
        district: str | None = None,
        min_complaints: int = 2,
    ) -> pd.DataFrame:
        """The ``top_n`` hot issues: incidents by heat (see :func:`events.hot.heat_score`)."""
        if top_n < 1:
            raise ValueError(f"top_n must be >= 1, got {top_n}")
        df = self.read(
            since=since,
            until=until,
            category=category,
            district=district,
            min_complaints=min_complaints,
            limit=top_n,
            order="heat",
        )
        df.insert(0, "rank", range(1, len(df) + 1))
        return df

    def grouping_candidates(self, since: datetime | None) -> pd.DataFrame:
        """Members of incidents still open at ``since`` (last seen on/after it), with what the
        grouping compares: time, text, category, district, anchor, places, terms."""
        inc = self.tables["incidents"]
        mem = self.tables["incident_members"]
        c = self.tables["complaints"]
        ev = self.tables["complaint_events"]
        q = (
            sa.select(
                mem.c.complaint_id.label("id"),
                mem.c.incident_id,
                c.c.time,
                c.c.title,
                c.c.text,
                c.c.caller,
                ev.c.category,
                ev.c.district,
                ev.c.anchor,
                ev.c.anchor_level,
                ev.c.places,
                ev.c.terms,
            )
            .join(inc, inc.c.incident_id == mem.c.incident_id)
            .join(c, c.c.id == mem.c.complaint_id)
            .join(ev, ev.c.complaint_id == mem.c.complaint_id)
        )
        if since is not None:
            q = q.where(inc.c.last_seen >= since)
        q = q.order_by(c.c.time, mem.c.complaint_id)
        return self._read(q)

    def members_detail(self, incident_ids: Sequence[str]) -> pd.DataFrame:
        """Every member of the given incidents with complaint and event fields (for summaries)."""
        mem = self.tables["incident_members"]
        c = self.tables["complaints"]
        ev = self.tables["complaint_events"]
        q = (
            sa.select(
                mem.c.incident_id,
                mem.c.complaint_id.label("id"),
                mem.c.similarity,
                c.c.time,
                c.c.title,
                c.c.text,
                c.c.caller,
                c.c.likes,
                ev.c.category,
                ev.c.district,
                ev.c.location_key,
                ev.c.anchor,
                ev.c.anchor_level,
                ev.c.urgency,
                ev.c.keywords,
                ev.c.terms,
            )
            .join(c, c.c.id == mem.c.complaint_id)
            .join(ev, ev.c.complaint_id == mem.c.complaint_id)
        )
        return self._read_by_ids(q, mem.c.incident_id, incident_ids, order=[mem.c.incident_id, c.c.time])

    def clear(self) -> None:
        """Drop every incident and membership (before regrouping the whole store)."""
        with self.engine.begin() as conn:
            conn.execute(self.tables["incident_members"].delete())
            conn.execute(self.tables["incidents"].delete())
