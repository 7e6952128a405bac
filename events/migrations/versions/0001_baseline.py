"""Baseline: the event store as hotline created it before migrations (schema_version 1).

Revision ID: 0001
Revises:
Create Date: 2026-09-21

The tables are written out here, not taken from events.store.schema: later revisions change the
model, and this revision must keep creating what version 1 was. Each table is created only
when missing, schema_version first, so a creation that stopped half-way (SQLite runs
CREATE TABLE outside the transaction) is finished by running this again.
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA_VERSION = 1


def baseline_tables() -> dict[str, sa.Table]:
    """The version-1 tables, in creation order (schema_version first)."""
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
    return t


def create_missing(bind: sa.Connection) -> list[str]:
    """Create the version-1 tables ``bind``'s database lacks; returns their names."""
    existing = set(sa.inspect(bind).get_table_names())
    made = []
    for name, table in baseline_tables().items():
        if name not in existing:
            table.create(bind)
            made.append(name)
    return made


def upgrade() -> None:
    bind = op.get_bind()
    create_missing(bind)
    version = baseline_tables()["schema_version"]
    # schema_version stays, at 1: a hotline from before migrations reads it and still opens
    # (or refuses) the store as it always did.
    if bind.execute(sa.select(sa.func.count()).select_from(version)).scalar() == 0:
        now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
        bind.execute(version.insert().values(version=SCHEMA_VERSION, applied_at=now))


def downgrade() -> None:
    for table in reversed(list(baseline_tables().values())):
        table.drop(op.get_bind(), checkfirst=True)
