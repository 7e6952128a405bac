"""The event store: complaints, predictions, extracted events, incidents, daily signals, alerts.

One SQL database, reached through SQLAlchemy 2.0 Core so that the same code runs on SQLite
(the default: a file path or ``sqlite:///path``, nothing to install) and on PostgreSQL in
production (``postgresql://user:pass@host/db``; needs ``pip install 'hotline[postgres]'``).
Upserts use each dialect's ``INSERT ... ON CONFLICT DO UPDATE``; other dialects fall back to
delete-then-insert in one transaction. No SQL text is written by hand.

Writes are idempotent: every table has a natural key (complaint id; complaint id + model
version; incident id; date + category + district; alert id) and loading the same batch twice
leaves the same rows. Creation timestamps are kept on conflict, so a re-run changes nothing.

Only masked text is stored: :meth:`EventStore.upsert_complaints` runs :func:`nlp.pii.mask_pii`
on titles and texts again (cheap, and a second line of defence for callers that read with
``mask=False``), and so is every other free-text value on its way in (districts, places,
keywords, labels, sources, complaint ids); a place column that held personal data (a phone
number typed into the district column) is stored as unknown. Callers' ids are stored as a
keyed hash (HMAC-SHA256 with a per-installation secret kept outside the database, see
:mod:`events.identity`), never the phone number.

Writers are serialised: :meth:`EventStore.writer_lock` (an advisory lock file next to a SQLite
database, ``pg_advisory_lock`` on PostgreSQL) is held for a whole ``hotline events`` run and
while a new store is created, so two runs on one store give what running them one after the
other gives.

The schema is made and changed by Alembic migrations (:mod:`events.migrations`), run when a
store is opened for writing, under the writer lock: a new database is upgraded to the head
revision, an older one upgraded, and one from before migrations (``schema_version`` 1, no
``alembic_version``) stamped at the baseline first. A store at a revision this hotline does not
know (a newer hotline migrated it) raises :class:`StoreSchemaError`. Table ``schema_version``
stays at :data:`SCHEMA_VERSION` for hotlines from before migrations, which check only it.

Tables (columns in :func:`_metadata`, which the head revision must equal): ``complaints``,
``predictions``, ``complaint_events``, ``incidents``, ``incident_members``, ``signals``,
``alerts``, ``store_meta``, ``schema_version``, and Alembic's ``alembic_version``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from common.errors import HotlineError
from events import identity, migrations
from nlp.pii import PLACEHOLDERS, mask_pii

logger = logging.getLogger(__name__)

# What table schema_version holds: the compatibility level checked by hotlines from before
# migrations. Raise it only in a revision that such a hotline must refuse to open.
SCHEMA_VERSION = 1
BATCH_ROWS = 500

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


class StoreError(HotlineError):
    """The event store cannot be opened or written as asked."""

    error_type = "store_error"


class StoreSchemaError(StoreError):
    error_type = "store_schema_mismatch"


class StoreLockError(StoreError):
    """Another writer held the store for longer than we were willing to wait."""

    error_type = "store_locked"


UNKNOWN_DISTRICT = "未知"
# How long a writer waits for another one to finish (a full events run can take minutes).
LOCK_TIMEOUT_S = float(os.environ.get("HOTLINE_STORE_LOCK_TIMEOUT", "3600"))
# PostgreSQL advisory lock key: a constant 63-bit number of our own.
_PG_LOCK_KEY = int(hashlib.sha256(b"hotline event store writer").hexdigest()[:15], 16)
# store_meta keys
META_CALLER_SCHEME = "caller_key_scheme"
META_LEGACY_CALLERS = "legacy_caller_keys"
META_SECRET_FINGERPRINT = "caller_secret_fingerprint"
META_OLD_FINGERPRINTS = "previous_caller_secret_fingerprints"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def _metadata() -> tuple[sa.MetaData, dict[str, sa.Table]]:
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


# complaint_events columns that name a place (cleared when they hold personal data).
_PLACE_COLUMNS = {"district", "anchor", "city", "loc_district", "street", "community", "road", "landmark"}
# Columns set only when a row is first written (kept on conflict so re-runs change nothing).
_KEEP_ON_CONFLICT = {"loaded_at", "created_at", "joined_at", "extracted_at"}


def resolve_url(url: str | os.PathLike[str]) -> str:
    """A SQLAlchemy URL from a URL or a file path (a path means a SQLite file)."""
    s = str(url).strip()
    if not s:
        raise StoreError("empty store URL; pass --store events.db or --store postgresql://user@host/db")
    if "://" not in s:
        path = Path(s).expanduser().resolve()
        return f"sqlite:///{path}"
    if s.startswith("postgres://"):
        s = "postgresql://" + s[len("postgres://") :]
    if s.startswith("postgresql://"):
        # SQLAlchemy's default PostgreSQL driver is psycopg2; hotline[postgres] installs psycopg 3.
        try:
            import psycopg  # noqa: F401

            s = "postgresql+psycopg://" + s[len("postgresql://") :]
        except ImportError:
            pass
    return s


def caller_key(value: Any, secret: bytes | None = None) -> str | None:
    """Keyed hash of a caller id / phone number (:func:`events.identity.caller_key`) with
    ``secret``, by default this installation's (:func:`events.identity.load_secret`)."""
    return identity.caller_key(value, identity.load_secret() if secret is None else secret)


def is_place_value(value: Any) -> bool:
    """False for an empty value and for one that holds personal data, masked or not: a phone
    number in the district column is not a place and must not become a series key."""
    s = _text(value).strip()
    if not s:
        return False
    if any(p in s for p in PLACEHOLDERS.values()):
        return False
    return mask_pii(s) == s


def clean_place(value: Any, limit: int | None = None) -> str:
    """``value`` as a place name, or ``""`` (unknown) when it is empty or holds personal data."""
    s = _text(value).strip()
    if not is_place_value(s):
        return ""
    return s[:limit] if limit else s


def _clean_location_key(value: Any, limit: int = 256) -> str:
    # district|street|place: each part on its own, so one bad part does not hide the others.
    parts = [clean_place(p) for p in _text(value).split("|")]
    return "|".join(parts)[:limit] if any(parts) else ""


def _masked(value: Any, limit: int | None = None) -> str:
    # Mask before cutting: a cut could leave a partial number the patterns no longer see.
    s = mask_pii(_text(value))
    return s[:limit] if limit else s


def _json_value(value: Any) -> Any:
    """A value for a JSON column: lists/dicts as they are, JSON strings parsed, NaN -> None."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) if isinstance(v, (list, tuple, dict)) else _scalar(v) for v in value]
    if isinstance(value, dict):
        return {
            str(k): _scalar(v) if not isinstance(v, (list, dict)) else _json_value(v)
            for k, v in value.items()
        }
    return value


def _scalar(value: Any) -> Any:
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


def _dt(value: Any) -> datetime | None:
    v = _scalar(value)
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


def _day(value: Any) -> date | None:
    v = _dt(value)
    return v.date() if v is not None else None


def _text(value: Any, limit: int | None = None) -> str:
    v = _scalar(value)
    if v is None:
        return ""
    s = str(v)
    return s[:limit] if limit else s


def _records(
    data: pd.DataFrame | Sequence[dict[str, Any]] | Iterable[dict[str, Any]],
) -> list[dict[str, Any]]:
    if isinstance(data, pd.DataFrame):
        return data.to_dict(orient="records")
    return [dict(r) for r in data]


def _chunks(rows: list[dict[str, Any]], size: int = BATCH_ROWS) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


class EventStore:
    """The SQL event store (see the module docstring).

    >>> store = EventStore("events.db")                  # doctest: +SKIP
    >>> store.upsert_complaints(records_df)             # doctest: +SKIP
    >>> store.upsert_predictions(pred_df)               # doctest: +SKIP
    >>> store.read_hot(5)                               # doctest: +SKIP
    """

    def __init__(
        self,
        url: str | os.PathLike[str],
        *,
        create: bool = True,
        echo: bool = False,
        caller_secret: bytes | None = None,
        caller_secret_file: str | os.PathLike[str] | None = None,
        lock_timeout: float | None = None,
    ) -> None:
        self.url = resolve_url(url)
        self._secret = caller_secret
        self._secret_file = caller_secret_file
        self._secret_checked = False
        self.lock_timeout = LOCK_TIMEOUT_S if lock_timeout is None else float(lock_timeout)
        self._lock_depth = 0
        self._lock_release: Any = None
        self._sqlite_path: str | None = None
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.url.startswith("sqlite"):
            path = self.url.split("///", 1)[1] if "///" in self.url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                self._sqlite_path = path
            kwargs["connect_args"] = {"timeout": 30}
            if path in ("", ":memory:"):
                # One shared connection, or every connection would see its own empty database.
                kwargs["poolclass"] = sa.pool.StaticPool
                kwargs["connect_args"]["check_same_thread"] = False
        try:
            self.engine = sa.create_engine(self.url, **kwargs)
        except (ImportError, ModuleNotFoundError) as exc:
            raise StoreError(
                f"cannot open {self._safe_url()}: database driver missing ({exc}); for PostgreSQL run "
                "pip install 'hotline[postgres]'"
            ) from exc
        except sa.exc.ArgumentError as exc:
            raise StoreError(f"invalid store URL {self._safe_url()}: {exc}") from exc
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.metadata, self.tables = _metadata()
        self._check_schema(create=create)

    def _safe_url(self) -> str:
        try:
            return sa.engine.make_url(self.url).render_as_string(hide_password=True)
        except Exception:
            return "<store url>"

    def __repr__(self) -> str:
        return f"EventStore({self._safe_url()!r})"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------------------------

    def _check_schema(self, *, create: bool) -> None:
        if not create or self._schema_ready():
            self._check_schema_locked(create=create)
            return
        # Creating tables or migrating: one process at a time, or a second one finds a half-made
        # store (an empty schema_version) and refuses it, or runs the same migration twice.
        with self.writer_lock():
            self._check_schema_locked(create=create)

    def _current_revisions(self, existing: set[str] | None = None) -> frozenset[str]:
        """The Alembic revision(s) the store is at (empty: never migrated). Read directly:
        alembic's MigrationContext logs at INFO on every store opened."""
        if existing is None:
            existing = set(sa.inspect(self.engine).get_table_names())
        if "alembic_version" not in existing:
            return frozenset()
        version = sa.table("alembic_version", sa.column("version_num"))
        with self.engine.connect() as conn:
            return frozenset(str(r) for r in conn.execute(sa.select(version.c.version_num)).scalars())

    def _schema_ready(self) -> bool:
        """True when the store is complete and migrated (nothing to write on opening it)."""
        try:
            existing = set(sa.inspect(self.engine).get_table_names())
            if not (set(self.tables) | {"alembic_version"}) <= existing:
                return False
            revisions = self._current_revisions(existing)
            with self.engine.connect() as conn:
                version = conn.execute(
                    sa.select(sa.func.max(self.tables["schema_version"].c.version))
                ).scalar()
                meta = self.tables["store_meta"]
                scheme = conn.execute(
                    sa.select(meta.c.value).where(meta.c.key == META_CALLER_SCHEME)
                ).scalar()
        except sa.exc.SQLAlchemyError:
            return False
        return revisions == migrations.heads() and version == SCHEMA_VERSION and scheme is not None

    def _check_schema_locked(self, *, create: bool) -> None:
        try:
            insp = sa.inspect(self.engine)
            existing = set(insp.get_table_names())
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot open the event store {self._safe_url()}: {exc.orig}") from exc
        ours = set(self.tables)
        if "schema_version" in existing:
            # Kept at 1 by the migrations so that a hotline from before them still recognises
            # the store; checked first so that such a store refuses the same way it always did.
            with self.engine.connect() as conn:
                found = conn.execute(sa.select(sa.func.max(self.tables["schema_version"].c.version))).scalar()
            if found is None and create and self._is_unfinished(existing):
                # A creation that stopped between the tables and the version row (a crash, or a
                # hotline without the writer lock): nothing was stored, so finish it (the
                # baseline revision creates only the missing tables).
                self._migrate(stamp=False)
                self._migrate_callers()
                return
            if found is None:
                raise StoreSchemaError(
                    f"{self._safe_url()}: table schema_version is empty; this is not a complete hotline "
                    "event store - point --store at a new file or an empty database"
                )
            if found > SCHEMA_VERSION:
                raise StoreSchemaError(
                    f"{self._safe_url()} has event-store schema version {found}, newer than this hotline "
                    f"supports ({SCHEMA_VERSION}); upgrade hotline (pip install -U hotline) to use it"
                )
            if found < SCHEMA_VERSION:
                raise StoreSchemaError(
                    f"{self._safe_url()} has event-store schema version {found}, older than this hotline "
                    f"({SCHEMA_VERSION}); rebuild it: run `hotline events INPUT --store NEW_STORE` on the "
                    "original logs (the old store is left untouched)"
                )
        else:
            clash = ours & existing
            if clash:
                raise StoreSchemaError(
                    f"{self._safe_url()} already has table(s) {', '.join(sorted(clash))} but no "
                    "schema_version table: it was not created by hotline; use another database or file "
                    "for --store"
                )
            if not create:
                raise StoreError(
                    f"{self._safe_url()} is not a hotline event store; run `hotline events` first"
                )
        current = self._current_revisions(existing)
        unknown = sorted(r for r in current if not migrations.is_known(r))
        if unknown:
            raise StoreSchemaError(
                f"{self._safe_url()} was migrated by a newer hotline (schema revision "
                f"{', '.join(unknown)}, unknown here); upgrade hotline (pip install -U hotline) to use it"
            )
        if current == migrations.heads():
            missing = ours - existing
            if missing and create:
                # At head the model is the schema, so a dropped table can be made again as it
                # was (it was empty or its rows are gone either way).
                logger.warning("%s: recreating missing table(s) %s", self._safe_url(), sorted(missing))
                self.metadata.create_all(self.engine, tables=[self.tables[n] for n in sorted(missing)])
            if create:
                self._migrate_callers()
            return
        if not create:
            if not current:
                return  # a store from before migrations, read as it is; the next writer stamps it
            raise StoreSchemaError(
                f"{self._safe_url()} is at schema revision {', '.join(sorted(current))}, older than this "
                f"hotline's ({', '.join(sorted(migrations.heads()))}); open it for writing once "
                "(`hotline events INPUT --store STORE`) to upgrade it"
            )
        # A store written before migrations (schema_version 1, no alembic_version) is at the
        # baseline revision: stamp it there, then upgrade like any other.
        self._migrate(stamp="schema_version" in existing and not current)
        self._migrate_callers()

    def _migrate(self, *, stamp: bool) -> None:
        """Upgrade the store to the head revision in one transaction (``stamp``: first mark a
        pre-migration store as being at :data:`events.migrations.BASELINE`, creating the
        baseline tables it lacks - ``store_meta`` in stores older than it)."""
        from alembic import command

        before = self._current_revisions()
        with self.engine.begin() as conn:
            cfg = migrations.alembic_config(connection=conn)
            if stamp:
                made = migrations.baseline_module().create_missing(conn)
                command.stamp(cfg, migrations.BASELINE)
                logger.info(
                    "%s: store from before migrations stamped at revision %s%s",
                    self._safe_url(),
                    migrations.BASELINE,
                    f" (created {', '.join(made)})" if made else "",
                )
            command.upgrade(cfg, "head")
        logger.info(
            "event store %s migrated from revision %s to %s",
            self._safe_url(),
            ", ".join(sorted(before)) or ("baseline" if stamp else "empty"),
            ", ".join(sorted(migrations.heads())),
        )

    def _is_unfinished(self, existing: set[str]) -> bool:
        if "complaints" not in existing:
            return True
        with self.engine.connect() as conn:
            return not conn.execute(sa.select(self.tables["complaints"].c.id).limit(1)).first()

    def _migrate_callers(self) -> None:
        """Mark a store written before keyed caller hashes (once): its caller hashes are the old
        constant-salt sha256, which cannot be re-keyed without the raw ids. They stay as they
        are - 16 hex digits, never equal to a ``k1:`` key - and the store says so."""
        meta = self.meta()
        if META_CALLER_SCHEME in meta:
            return
        c = self.tables["complaints"]
        with self.engine.connect() as conn:
            legacy = int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(c)
                    .where(c.c.caller.is_not(None), sa.not_(c.c.caller.like(identity.KEY_PREFIX + "%")))
                ).scalar()
            )
        values = {META_CALLER_SCHEME: identity.SCHEME}
        if legacy:
            values[META_LEGACY_CALLERS] = str(legacy)
            logger.warning(
                "%s: %d complaint(s) carry legacy caller hashes (constant salt, before keyed hashes); "
                "they are kept and marked - a caller seen before and after this upgrade counts as two "
                "people (docs/events.md, caller identity)",
                self._safe_url(),
                legacy,
            )
        self._set_meta(values)

    # -- store metadata and caller identity -------------------------------------------------------

    def meta(self) -> dict[str, str]:
        """The ``store_meta`` key/value pairs (caller-key scheme, legacy marker, secret fingerprint)."""
        t = self.tables["store_meta"]
        try:
            with self.engine.connect() as conn:
                return {str(k): str(v) for k, v in conn.execute(sa.select(t.c.key, t.c.value)).all()}
        except (sa.exc.OperationalError, sa.exc.ProgrammingError):
            # A store of an older hotline opened read-only (create=False): no store_meta yet.
            return {}

    def _set_meta(self, values: dict[str, str]) -> None:
        now = _utcnow()
        self._upsert("store_meta", [{"key": k, "value": v, "updated_at": now} for k, v in values.items()])

    @property
    def legacy_callers(self) -> int:
        """How many complaints still carry a legacy (constant-salt) caller hash."""
        return int(self.meta().get(META_LEGACY_CALLERS, "0") or 0)

    def caller_secret(self) -> bytes:
        """This installation's caller secret (loaded on first use: stores without callers never
        need one). The first time per store its fingerprint is compared with the one the store
        was written with, and a change is logged (callers would no longer match)."""
        if self._secret is None:
            self._secret = identity.load_secret(self._secret_file)
        if not self._secret_checked:
            self._secret_checked = True
            fp = identity.secret_fingerprint(self._secret)
            meta = self.meta()
            old = meta.get(META_SECRET_FINGERPRINT)
            if not meta:
                pass  # opened read-only before its migration: nothing to compare or record
            elif old is None:
                self._set_meta({META_SECRET_FINGERPRINT: fp})
            elif old != fp:
                logger.warning(
                    "%s: callers were hashed with another caller secret (fingerprint %s, now %s); the "
                    "same caller before and after the change counts as two people. Expected after a "
                    "rotation; otherwise set HOTLINE_CALLER_SECRET_FILE to the secret this store used "
                    "(docs/events.md, caller identity)",
                    self._safe_url(),
                    old,
                    fp,
                )
                history = [h for h in meta.get(META_OLD_FINGERPRINTS, "").split(",") if h]
                self._set_meta(
                    {META_SECRET_FINGERPRINT: fp, META_OLD_FINGERPRINTS: ",".join([*history, old])}
                )
        return self._secret

    def hash_caller(self, value: Any) -> str | None:
        """Keyed hash of a caller id with this installation's secret; a key that already is one
        (``k1:`` + 24 hex) is kept."""
        if identity.is_caller_key(value):
            return str(value)
        if value is None or (isinstance(value, float) and math.isnan(value)) or not str(value).strip():
            return None
        return identity.caller_key(value, self.caller_secret())

    def safe_id(self, value: Any) -> str:
        """A complaint id as stored: unchanged unless it holds personal data (a phone number used
        as an id), which is masked and given a keyed suffix so that ids stay distinct and stable."""
        s = _text(value).strip()
        masked = mask_pii(s)
        if masked == s:
            return s[:128]
        return f"{masked[:100]}#{identity.keyed_token(s, self.caller_secret())}"

    # -- writer lock --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def writer_lock(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the store's writer lock (re-entrant in this object) for the ``with`` block.

        ``hotline events`` holds it for a whole run, so a second run on the same store waits and
        then groups against everything the first one stored: the result is that of running the
        two one after the other. SQLite: an advisory lock (``flock``) on ``<database>.lock``
        next to the database file; PostgreSQL: ``pg_advisory_lock`` on a session of its own;
        an in-memory database needs none. Waits up to ``timeout`` seconds (default
        ``lock_timeout``), then raises :class:`StoreLockError`.
        """
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        wait = self.lock_timeout if timeout is None else float(timeout)
        if self._sqlite_path:
            release = self._lock_file(Path(self._sqlite_path + ".lock"), wait)
        elif self.dialect == "postgresql":
            release = self._lock_postgres(wait)
        else:
            release = None
        self._lock_depth = 1
        try:
            yield
        finally:
            self._lock_depth = 0
            if release is not None:
                release()

    def _lock_busy(self, waited: float, wait: float, what: str) -> None:
        if waited >= wait:
            raise StoreLockError(
                f"{self._safe_url()} is being written by another hotline process ({what}) and it did "
                f"not finish within {wait:.0f} s; wait for it (or raise --lock-timeout / "
                "HOTLINE_STORE_LOCK_TIMEOUT) and run again - nothing was written by this run"
            )
        if waited == 0:
            logger.info("%s: another hotline process is writing; waiting for it", self._safe_url())

    def _lock_file(self, path: Path, wait: float) -> Any:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        start = time.monotonic()
        waited = 0.0
        try:
            while not _try_lock_fd(fd):
                self._lock_busy(waited, wait, f"lock file {path}")
                time.sleep(min(0.2, max(wait - waited, 0.01)))
                waited = max(time.monotonic() - start, 1e-6)
        except BaseException:
            os.close(fd)
            raise

        def release() -> None:
            _unlock_fd(fd)
            os.close(fd)

        return release

    def _lock_postgres(self, wait: float) -> Any:
        # A session-level advisory lock lives as long as its connection: keep one aside for it.
        conn = self.engine.connect()
        start = time.monotonic()
        waited = 0.0
        try:
            while not conn.execute(sa.select(sa.func.pg_try_advisory_lock(_PG_LOCK_KEY))).scalar():
                conn.rollback()
                self._lock_busy(waited, wait, "pg_advisory_lock")
                time.sleep(min(0.5, max(wait - waited, 0.01)))
                waited = max(time.monotonic() - start, 1e-6)
            conn.commit()
        except BaseException:
            conn.close()
            raise

        def release() -> None:
            try:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(_PG_LOCK_KEY)))
                conn.commit()
            finally:
                conn.close()

        return release

    def schema_version(self) -> int:
        """The compatibility version in ``schema_version`` (1; what hotlines from before
        migrations check)."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(self.tables["schema_version"].c.version))).scalar())

    def schema_revision(self) -> str | None:
        """The Alembic revision the store is at (``None``: a store from before migrations,
        opened read-only)."""
        revisions = self._current_revisions()
        return ", ".join(sorted(revisions)) or None

    # -- generic upsert -------------------------------------------------------------------------

    def _upsert(self, name: str, rows: list[dict[str, Any]], conn: sa.Connection | None = None) -> int:
        if not rows:
            return 0
        table = self.tables[name]
        keys = [c.name for c in table.primary_key.columns]
        # Last write wins for duplicate keys within one call (ON CONFLICT cannot touch a row twice
        # in one statement on PostgreSQL).
        dedup: dict[tuple[Any, ...], dict[str, Any]] = {}
        for r in rows:
            dedup[tuple(r[k] for k in keys)] = r
        rows = list(dedup.values())
        if conn is None:
            with self.engine.begin() as c:
                return self._upsert(name, rows, c)
        dialect = self.dialect
        for batch in _chunks(rows):
            if dialect in ("sqlite", "postgresql"):
                if dialect == "sqlite":
                    from sqlalchemy.dialects.sqlite import insert
                else:
                    from sqlalchemy.dialects.postgresql import insert
                stmt = insert(table)
                update = {
                    c.name: stmt.excluded[c.name]
                    for c in table.columns
                    if c.name not in keys and c.name not in _KEEP_ON_CONFLICT
                }
                stmt = (
                    stmt.on_conflict_do_update(index_elements=keys, set_=update)
                    if update
                    else stmt.on_conflict_do_nothing()
                )
                conn.execute(stmt, batch)
            else:  # portable fallback: delete the keys, insert the rows
                if len(keys) == 1:
                    conn.execute(table.delete().where(table.c[keys[0]].in_([r[keys[0]] for r in batch])))
                else:
                    for r in batch:
                        conn.execute(table.delete().where(sa.and_(*(table.c[k] == r[k] for k in keys))))
                conn.execute(table.insert(), batch)
        return len(rows)

    # -- complaints and predictions -------------------------------------------------------------

    def upsert_complaints(self, records: pd.DataFrame, *, source: str = "") -> int:
        """Insert or update complaints; returns the number of rows written.

        ``records`` is a canonical DataFrame from :mod:`ingest` (``ComplaintReader`` chunks or
        ``read_complaints``): column ``id`` (required, unique key) and any of ``title``,
        ``text``, ``time``, ``district``, ``label``, ``row``; optionally ``caller`` (hashed
        here with :meth:`hash_caller` unless it already is such a key) and ``likes``.
        Every text value is PII-masked before it is stored; a district that held personal data
        is stored as unknown (``""``) and an id that did is masked (:meth:`safe_id`). Loading
        the same records twice leaves the table unchanged.
        """
        if "id" not in records.columns:
            raise StoreError("upsert_complaints: the records have no 'id' column (read them with ingest)")
        now = _utcnow()
        rows = []
        for r in _records(records):
            cid = self.safe_id(r.get("id"))
            if not cid:
                continue
            title = mask_pii(_text(r.get("title")))
            text = mask_pii(_text(r.get("text")))
            caller = self.hash_caller(_scalar(r.get("caller")))
            likes = _scalar(r.get("likes"))
            rows.append(
                {
                    "id": cid,
                    "time": _dt(r.get("time")),
                    "title": title,
                    "text": text,
                    "district": clean_place(r.get("district"), 64),
                    "label": _masked(r.get("label"), 128),
                    "caller": caller,
                    "likes": int(likes) if isinstance(likes, (int, float)) and not math.isnan(likes) else 0,
                    "source": _masked(r.get("source") or source, 512),
                    "row": int(_scalar(r["row"])) if _scalar(r.get("row")) is not None else None,
                    "content_hash": self.content_hash(title, text),
                    "loaded_at": now,
                }
            )
        return self._upsert("complaints", rows)

    @staticmethod
    def content_hash(title: str, text: str) -> str:
        """Hash of a complaint's masked title and text (what a re-load compares)."""
        return hashlib.sha1(f"{title}\x00{text}".encode()).hexdigest()

    def stored_state(self, ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """``id -> (content_hash, category of its extracted events or None)`` for stored ids."""
        c = self.tables["complaints"]
        ev = self.tables["complaint_events"]
        q = (
            sa.select(c.c.id, c.c.content_hash, ev.c.category)
            .select_from(c)
            .outerjoin(ev, ev.c.complaint_id == c.c.id)
        )
        frame = self._read_by_ids(q, c.c.id, ids, complaint_ids=True)
        return {
            str(i): (
                str(h),
                None if cat is None or (isinstance(cat, float) and math.isnan(cat)) else str(cat),
            )
            for i, h, cat in zip(frame["id"], frame["content_hash"], frame["category"], strict=True)
        }

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
                    f"upsert_predictions: missing column {col!r} (need id/complaint_id and label)"
                )
        now = _utcnow()
        rows = []
        for r in _records(df):
            cid = self.safe_id(r.get(id_col))
            if not cid:
                continue
            score = _scalar(r.get("score"))
            rows.append(
                {
                    "complaint_id": cid,
                    "model_version": _masked(r.get("model_version"), 128) or "unknown",
                    "label": _masked(r.get("label"), 128),
                    "score": float(score) if score is not None else 0.0,
                    "top_k": _mask_json(_json_value(r.get("top_k"))),
                    "needs_review": bool(_scalar(r.get("needs_review")) or False),
                    "created_at": now,
                }
            )
        return self._upsert("predictions", rows)

    def read_complaints(
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
            q = q.where(t.c.time >= _dt(since))
        if until is not None:
            q = q.where(t.c.time <= _dt(until))
        return self._read_by_ids(q, t.c.id, ids, order=[t.c.time, t.c.id], complaint_ids=True)

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

    def _read_by_ids(
        self,
        query: sa.Select,
        column: sa.Column,
        ids: Sequence[str] | None,
        order: Sequence[Any] = (),
        *,
        complaint_ids: bool = False,
    ) -> pd.DataFrame:
        with self.engine.connect() as conn:
            if ids is None:
                return self._frame(conn.execute(query.order_by(*order)))
            # Complaint ids are looked up as they were stored (one holding personal data is
            # masked). Incident ids are ours and never mapped: the digits of INC-YYYYMMDD-<hex>
            # can look like a bank card number.
            ids = [self.safe_id(i) for i in ids] if complaint_ids else [str(i) for i in ids]
            frames = [
                self._frame(conn.execute(query.where(column.in_(ids[i : i + BATCH_ROWS])).order_by(*order)))
                for i in range(0, len(ids), BATCH_ROWS)
            ]
        frames = [f for f in frames if len(f)]
        if not frames:
            return self._frame(None, query)
        return pd.concat(frames, ignore_index=True)

    @staticmethod
    def _frame(result: sa.CursorResult | None, query: sa.Select | None = None) -> pd.DataFrame:
        if result is None:
            assert query is not None
            return pd.DataFrame(columns=[c.name for c in query.selected_columns])
        return pd.DataFrame(result.mappings().all(), columns=list(result.keys()))

    # -- extracted events -------------------------------------------------------------------------

    def upsert_events(self, events: pd.DataFrame) -> int:
        """Event fields per complaint (``id`` + :data:`nlp.events.EVENT_COLUMNS` + ``category``,
        ``category_source``, ``district``). Text is masked; place columns that held personal data
        are stored as unknown (``""``) and such entries are dropped from ``places``."""
        table = self.tables["complaint_events"]
        now = _utcnow()
        json_cols = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
        dt_cols = {"event_start", "event_end"}
        rows = []
        for r in _records(events):
            cid = self.safe_id(r.get("id") if "id" in r else r.get("complaint_id"))
            if not cid:
                continue
            row: dict[str, Any] = {"complaint_id": cid, "extracted_at": now}
            for c in table.columns:
                if c.name in ("complaint_id", "extracted_at"):
                    continue
                v = r.get(c.name)
                if c.name == "places":
                    places = _json_value(v)
                    row[c.name] = (
                        [p for p in places if is_place_value(p)] if isinstance(places, list) else places
                    )
                elif c.name in json_cols:
                    row[c.name] = _mask_json(_json_value(v))
                elif c.name in dt_cols:
                    row[c.name] = _dt(v)
                elif c.name == "recurring":
                    row[c.name] = bool(_scalar(v) or False)
                elif c.name == "urgency_score":
                    row[c.name] = float(_scalar(v) or 0.0)
                elif c.name == "urgency":
                    row[c.name] = _masked(v, 8) or "一般"
                elif c.name == "location_key":
                    row[c.name] = _clean_location_key(v)
                elif c.name in _PLACE_COLUMNS:
                    row[c.name] = clean_place(v, getattr(c.type, "length", None))
                else:
                    length = getattr(c.type, "length", None)
                    row[c.name] = _masked(v, length)
            rows.append(row)
        return self._upsert("complaint_events", rows)

    def read_events(self, ids: Sequence[str] | None = None) -> pd.DataFrame:
        t = self.tables["complaint_events"]
        return self._read_by_ids(
            sa.select(t), t.c.complaint_id, ids, order=[t.c.complaint_id], complaint_ids=True
        )

    # -- incidents ------------------------------------------------------------------------------

    def upsert_incidents(self, incidents: pd.DataFrame) -> int:
        """Incident summaries (one row per ``incident_id``; see :mod:`events.hot`)."""
        now = _utcnow()
        rows = []
        for r in _records(incidents):
            iid = _text(r.get("incident_id"))
            if not iid:
                continue
            rows.append(
                {
                    "incident_id": iid,
                    "category": _masked(r.get("category"), 128),
                    "district": clean_place(r.get("district"), 64),
                    "location_key": _clean_location_key(r.get("location_key")),
                    "anchor": clean_place(r.get("anchor"), 128),
                    "first_seen": _dt(r.get("first_seen")),
                    "last_seen": _dt(r.get("last_seen")),
                    "n_complaints": int(_scalar(r.get("n_complaints")) or 0),
                    "n_callers": int(_scalar(r.get("n_callers")) or 0),
                    "likes": int(_scalar(r.get("likes")) or 0),
                    "growth": float(_scalar(r.get("growth")) or 1.0),
                    "heat": float(_scalar(r.get("heat")) or 0.0),
                    "urgency": _masked(r.get("urgency"), 8) or "一般",
                    "keywords": _mask_json(_json_value(r.get("keywords"))),
                    "description": mask_pii(_text(r.get("description"))),
                    "representative_id": self.safe_id(r.get("representative_id")) or None,
                    "created_at": now,
                }
            )
        return self._upsert("incidents", rows)

    def upsert_members(self, members: pd.DataFrame) -> int:
        """Incident membership: ``complaint_id`` (or ``id``), ``incident_id``, ``similarity``, ``link``."""
        now = _utcnow()
        rows = []
        for r in _records(members):
            cid = self.safe_id(r.get("complaint_id") or r.get("id"))
            if not cid:
                continue
            rows.append(
                {
                    "complaint_id": cid,
                    "incident_id": _text(r.get("incident_id")),
                    "similarity": float(_scalar(r.get("similarity")) or 0.0),
                    "link": _masked(r.get("link"), 32),
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

    def read_incidents(
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
        if order not in ("heat", "last_seen", "first_seen"):
            raise ValueError("order must be 'heat', 'last_seen' or 'first_seen'")
        t = self.tables["incidents"]
        q = sa.select(t).where(t.c.n_complaints >= min_complaints)
        if since is not None:
            q = q.where(t.c.last_seen >= _dt(since))
        if until is not None:
            q = q.where(t.c.first_seen <= _dt(until))
        if category:
            q = q.where(t.c.category == category)
        if district:
            q = q.where(t.c.district == district)
        if ids is not None:
            q = q.where(t.c.incident_id.in_([str(i) for i in ids]))
        key = t.c[order]
        q = q.order_by(key.desc(), t.c.incident_id)
        if limit is not None:
            q = q.limit(int(limit))
        with self.engine.connect() as conn:
            return self._frame(conn.execute(q))

    def read_hot(
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
        df = self.read_incidents(
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
        with self.engine.connect() as conn:
            return self._frame(conn.execute(q))

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

    def incident_members_detail(self, incident_ids: Sequence[str]) -> pd.DataFrame:
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

    def signal_source(self) -> pd.DataFrame:
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
        with self.engine.connect() as conn:
            return self._frame(conn.execute(q))

    # -- signals --------------------------------------------------------------------------------

    def replace_signals(self, signals: pd.DataFrame) -> int:
        """Replace the whole signals table with ``signals`` (:data:`SIGNAL_COLUMNS`), atomically."""
        missing = [c for c in SIGNAL_COLUMNS if c not in signals.columns]
        if missing:
            raise StoreError(f"replace_signals: missing column(s) {', '.join(missing)}")
        signals = _safe_signal_keys(signals)
        rows = [
            {
                "date": _day(r["date"]),
                "category": _text(r["category"], 128),
                "district": _text(r["district"], 64),
                "calls": int(r["calls"]),
                "incidents": int(r["incidents"]),
                "new_incidents": int(r["new_incidents"]),
                "weekday": int(r["weekday"]),
                "is_holiday": bool(r["is_holiday"]),
                "is_workday": bool(r["is_workday"]),
                "holiday_name": _text(r["holiday_name"], 32),
            }
            for r in _records(signals)
        ]
        with self.engine.begin() as conn:
            conn.execute(self.tables["signals"].delete())
            for batch in _chunks(rows, 2000):
                conn.execute(self.tables["signals"].insert(), batch)
        return len(rows)

    def read_signals(
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
            q = q.where(t.c.date >= _day(start))
        if end is not None:
            q = q.where(t.c.date <= _day(end))
        if category:
            q = q.where(t.c.category == category)
        if district:
            q = q.where(t.c.district == district)
        q = q.order_by(t.c.date, t.c.category, t.c.district)
        with self.engine.connect() as conn:
            df = self._frame(conn.execute(q))
        return _signals_frame(df)

    # -- alerts ---------------------------------------------------------------------------------

    def upsert_alerts(self, records: pd.DataFrame | Sequence[dict[str, Any]]) -> int:
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
        now = _utcnow()
        rows = []
        for i, r in enumerate(_records(records)):
            aid = _text(r.get("alert_id"))
            if not aid:
                raise StoreError(f"upsert_alerts: record {i} has no alert_id")
            day = _day(r.get("date"))
            if day is None:
                raise StoreError(f"upsert_alerts: alert {aid!r} has no valid date (YYYY-MM-DD)")
            kind = _text(r.get("kind"))
            if kind not in ALERT_KINDS:
                raise StoreError(
                    f"upsert_alerts: alert {aid!r} has kind {kind!r}; expected one of {ALERT_KINDS}"
                )
            examples = _json_value(r.get("examples"))
            if isinstance(examples, list):
                examples = [mask_pii(e) if isinstance(e, str) else _mask_json(e) for e in examples]
            elif isinstance(examples, str):
                examples = [mask_pii(examples)]

            rows.append(
                {
                    "alert_id": aid[:128],
                    "created_at": _dt(r.get("created_at")) or now,
                    "date": day,
                    "series_key": _masked(r.get("series_key"), 256),
                    "kind": kind,
                    "observed": _num(r.get("observed")),
                    "expected": _num(r.get("expected")),
                    "lower": _num(r.get("lower")),
                    "upper": _num(r.get("upper")),
                    "size": _num(r.get("size")),
                    "growth": _num(r.get("growth")),
                    "score": _num(r.get("score")),
                    "incident_ids": _json_value(r.get("incident_ids")) or [],
                    "examples": examples or [],
                    "keywords": _mask_json(_json_value(r.get("keywords"))) or [],
                    "first_seen": _dt(r.get("first_seen")),
                    "last_seen": _dt(r.get("last_seen")),
                }
            )
        return self._upsert("alerts", rows)

    def read_alerts(
        self, since: date | str | None = None, limit: int | None = 100, *, kind: str | None = None
    ) -> pd.DataFrame:
        """Alerts for days on/after ``since``, highest ``score`` first (then newest date), at most
        ``limit`` (``None``: all). ``date`` comes back as ``YYYY-MM-DD``."""
        t = self.tables["alerts"]
        q = sa.select(*(t.c[c] for c in ALERT_COLUMNS))
        if since is not None:
            q = q.where(t.c.date >= _day(since))
        if kind:
            q = q.where(t.c.kind == kind)
        q = q.order_by(t.c.score.desc(), t.c.date.desc(), t.c.alert_id)
        if limit is not None:
            q = q.limit(int(limit))
        with self.engine.connect() as conn:
            df = self._frame(conn.execute(q))
        if len(df):
            df["date"] = pd.to_datetime(df["date"]).dt.strftime("%Y-%m-%d")
        return df

    # -- maintenance ----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Row count of every table (for reports and tests)."""
        with self.engine.connect() as conn:
            return {
                name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar())
                for name, t in self.tables.items()
            }

    def clear_incidents(self) -> None:
        """Drop every incident and membership (before regrouping the whole store)."""
        with self.engine.begin() as conn:
            conn.execute(self.tables["incident_members"].delete())
            conn.execute(self.tables["incidents"].delete())


def _num(value: Any) -> float | None:
    v = _scalar(value)
    return None if v is None else float(v)


def _mask_json(value: Any) -> Any:
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, dict):
        return {k: _mask_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_json(v) for v in value]
    return value


def _safe_signal_keys(signals: pd.DataFrame) -> pd.DataFrame:
    """Series keys without personal data: a district that holds some becomes
    :data:`UNKNOWN_DISTRICT` (rows that then share a key are added up), a category is masked."""
    district = signals["district"].map(lambda d: clean_place(d) or UNKNOWN_DISTRICT)
    category = signals["category"].map(lambda c: _masked(c))
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


def _try_lock_fd(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock_fd(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_UN)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets `hotline serve` read while `hotline events` writes; busy_timeout waits for a
    # writer instead of failing at once.
    cur = dbapi_connection.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
    finally:
        cur.close()
