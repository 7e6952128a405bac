"""The event store's tables: what the head Alembic revision must create.

The migrations (:mod:`events.migrations`) make and change the schema; :func:`build_metadata` is
the model they are compared against (``alembic revision --autogenerate`` and the test that a
new store equals the model). The baseline revision keeps its own frozen copy of the version-1
tables on purpose: this model moves on, that revision must keep creating what version 1 was.

Tables: ``complaints``, ``predictions``, ``complaint_events``, ``incidents``,
``incident_members``, ``signals``, ``alerts``, ``store_meta``, ``schema_version``, and
Alembic's ``alembic_version``.
"""

from __future__ import annotations

import sqlalchemy as sa

# What table schema_version holds: the compatibility level checked by hotlines from before
# migrations. Raise it only in a revision that such a hotline must refuse to open.
SCHEMA_VERSION = 1

# The signals contract (forecasting reads these columns in this order; add new ones at the end).
SIGNAL_COLUMNS = (
    "date", "category", "district", "calls", "incidents", "new_incidents", "weekday", "is_holiday",
    "is_workday", "holiday_name",
)  # fmt: skip
ALERT_KINDS = ("interval", "burst", "incident")
ALERT_COLUMNS = (
    "alert_id", "created_at", "date", "series_key", "kind", "observed", "expected", "lower", "upper",
    "size", "growth", "score", "incident_ids", "examples", "keywords", "first_seen", "last_seen",
)  # fmt: skip

# complaint_events columns that name a place (cleared when they hold personal data).
PLACE_COLUMNS = {"district", "anchor", "city", "loc_district", "street", "community", "road", "landmark"}
# Columns set only when a row is first written (kept on conflict so re-runs change nothing).
KEEP_ON_CONFLICT = {"loaded_at", "created_at", "joined_at", "extracted_at"}


def build_metadata() -> tuple[sa.MetaData, dict[str, sa.Table]]:
    """The tables of the head revision (a new MetaData each call: a store owns its own)."""
    md = sa.MetaData()
    id_type = sa.String(128)
    t: dict[str, sa.Table] = {}
    t["schema_version"] = sa.Table(
        "schema_version",
        md,
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("applied_at", sa.DateTime, nullable=False),
    )
    t["store_meta"] = sa.Table(
        "store_meta",
        md,
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False, default=""),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    t["complaints"] = sa.Table(
        "complaints",
        md,
        sa.Column("id", id_type, primary_key=True),
        sa.Column("time", sa.DateTime, index=True),
        sa.Column("title", sa.Text, nullable=False, default=""),
        sa.Column("text", sa.Text, nullable=False, default=""),  # masked
        sa.Column("district", sa.String(64), nullable=False, default=""),
        sa.Column("label", sa.String(128), nullable=False, default=""),
        sa.Column("caller", sa.String(32)),  # keyed hash of the caller id (events.identity)
        sa.Column("likes", sa.Integer, nullable=False, default=0),
        sa.Column("source", sa.String(512), nullable=False, default=""),
        sa.Column("row", sa.Integer),
        sa.Column("content_hash", sa.String(40), nullable=False, default=""),
        sa.Column("loaded_at", sa.DateTime, nullable=False),
    )
    t["predictions"] = sa.Table(
        "predictions",
        md,
        sa.Column("complaint_id", id_type, primary_key=True),
        sa.Column("model_version", sa.String(128), primary_key=True),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("top_k", sa.JSON),
        sa.Column("needs_review", sa.Boolean, nullable=False, default=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    t["complaint_events"] = sa.Table(
        "complaint_events",
        md,
        sa.Column("complaint_id", id_type, primary_key=True),
        sa.Column("category", sa.String(128), nullable=False, default=""),
        sa.Column("category_source", sa.String(16), nullable=False, default=""),  # prediction|label|model|""
        sa.Column("district", sa.String(64), nullable=False, default=""),
        sa.Column("location_key", sa.String(256), nullable=False, default="", index=True),
        sa.Column("anchor", sa.String(128), nullable=False, default=""),
        sa.Column("anchor_level", sa.String(16), nullable=False, default=""),
        sa.Column("city", sa.String(64), nullable=False, default=""),
        sa.Column("loc_district", sa.String(64), nullable=False, default=""),
        sa.Column("street", sa.String(128), nullable=False, default=""),
        sa.Column("community", sa.String(128), nullable=False, default=""),
        sa.Column("road", sa.String(128), nullable=False, default=""),
        sa.Column("landmark", sa.String(128), nullable=False, default=""),
        sa.Column("places", sa.JSON),
        sa.Column("time_mentions", sa.JSON),
        sa.Column("event_start", sa.DateTime),
        sa.Column("event_end", sa.DateTime),
        sa.Column("recurring", sa.Boolean, nullable=False, default=False),
        sa.Column("urgency", sa.String(8), nullable=False, default="一般"),
        sa.Column("urgency_score", sa.Float, nullable=False, default=0.0),
        sa.Column("urgency_triggers", sa.JSON),
        sa.Column("keywords", sa.JSON),
        sa.Column("terms", sa.JSON),
        sa.Column("extracted_at", sa.DateTime, nullable=False),
    )
    t["incidents"] = sa.Table(
        "incidents",
        md,
        sa.Column("incident_id", sa.String(64), primary_key=True),
        sa.Column("category", sa.String(128), nullable=False, default=""),
        sa.Column("district", sa.String(64), nullable=False, default=""),
        sa.Column("location_key", sa.String(256), nullable=False, default=""),
        sa.Column("anchor", sa.String(128), nullable=False, default=""),
        sa.Column("first_seen", sa.DateTime, index=True),
        sa.Column("last_seen", sa.DateTime, index=True),
        sa.Column("n_complaints", sa.Integer, nullable=False, default=0),
        sa.Column("n_callers", sa.Integer, nullable=False, default=0),
        sa.Column("likes", sa.Integer, nullable=False, default=0),
        sa.Column("growth", sa.Float, nullable=False, default=1.0),
        sa.Column("heat", sa.Float, nullable=False, default=0.0, index=True),
        sa.Column("urgency", sa.String(8), nullable=False, default="一般"),
        sa.Column("keywords", sa.JSON),
        sa.Column("description", sa.Text, nullable=False, default=""),  # masked
        sa.Column("representative_id", id_type),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    t["incident_members"] = sa.Table(
        "incident_members",
        md,
        sa.Column("complaint_id", id_type, primary_key=True),
        sa.Column("incident_id", sa.String(64), nullable=False, index=True),
        sa.Column("similarity", sa.Float, nullable=False, default=1.0),
        sa.Column(
            "link", sa.String(32), nullable=False, default=""
        ),  # what joined it: seed|minhash|place|...
        sa.Column("joined_at", sa.DateTime, nullable=False),
    )
    t["signals"] = sa.Table(
        "signals",
        md,
        sa.Column("date", sa.Date, primary_key=True),
        sa.Column("category", sa.String(128), primary_key=True),
        sa.Column("district", sa.String(64), primary_key=True),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("incidents", sa.Integer, nullable=False),
        sa.Column("new_incidents", sa.Integer, nullable=False),
        sa.Column("weekday", sa.Integer, nullable=False),
        sa.Column("is_holiday", sa.Boolean, nullable=False),
        sa.Column("is_workday", sa.Boolean, nullable=False),
        sa.Column("holiday_name", sa.String(32), nullable=False, default=""),
    )
    t["alerts"] = sa.Table(
        "alerts",
        md,
        sa.Column("alert_id", sa.String(128), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("date", sa.Date, nullable=False, index=True),
        sa.Column("series_key", sa.String(256), nullable=False, default=""),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("observed", sa.Float),
        sa.Column("expected", sa.Float),
        sa.Column("lower", sa.Float),
        sa.Column("upper", sa.Float),
        sa.Column("size", sa.Float),
        sa.Column("growth", sa.Float),
        sa.Column("score", sa.Float),
        sa.Column("incident_ids", sa.JSON),
        sa.Column("examples", sa.JSON),
        sa.Column("keywords", sa.JSON),
        sa.Column("first_seen", sa.DateTime),
        sa.Column("last_seen", sa.DateTime),
    )
    return md, t
