"""The :class:`EventStore`: one SQL database, its engine, writer lock and schema, and one
repository per aggregate.

SQLAlchemy 2.0 Core, so that the same code runs on SQLite (the default: a file path or
``sqlite:///path``, nothing to install) and on PostgreSQL in production
(``postgresql://user:pass@host/db``; needs ``pip install 'hotline[postgres]'``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from events.store.alerts import AlertRepository
from events.store.complaints import ComplaintRepository
from events.store.errors import StoreError
from events.store.incidents import IncidentRepository
from events.store.locking import WriterLock
from events.store.meta import Callers, MetaRepository
from events.store.migrate import Migrator
from events.store.schema import build_metadata
from events.store.signals import SignalRepository


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


class EventStore:
    """The SQL event store (see :mod:`events.store`).

    >>> store = EventStore("events.db")                  # doctest: +SKIP
    >>> store.complaints.upsert(records_df)              # doctest: +SKIP
    >>> store.complaints.upsert_predictions(pred_df)     # doctest: +SKIP
    >>> store.incidents.hot(5)                           # doctest: +SKIP
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
        sqlite_path: str | None = None
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.url.startswith("sqlite"):
            path = self.url.split("///", 1)[1] if "///" in self.url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                sqlite_path = path
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
        self.metadata, self.tables = build_metadata()
        label = self._safe_url()
        self.lock = WriterLock(self.engine, label, sqlite_path, lock_timeout)
        self.meta = MetaRepository(self.engine, self.tables)
        self.callers = Callers(self.meta, label, secret=caller_secret, secret_file=caller_secret_file)
        self.complaints = ComplaintRepository(
            self.engine, self.tables, self.callers.safe_id, self.callers.key
        )
        self.incidents = IncidentRepository(self.engine, self.tables, self.callers.safe_id)
        self.signals = SignalRepository(self.engine, self.tables)
        self.alerts = AlertRepository(self.engine, self.tables)
        self._schema = Migrator(self.engine, self.metadata, self.tables, label, self.lock, self.callers)
        self._schema.open(create=create)

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

    @contextlib.contextmanager
    def writer_lock(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the store's writer lock (re-entrant in this object) for the ``with`` block.

        ``hotline events`` holds it for a whole run, so a second run on the same store waits and
        then groups against everything the first one stored: the result is that of running the
        two one after the other (see :mod:`events.store.locking`). Waits up to ``timeout``
        seconds (default ``lock_timeout``), then raises :class:`StoreLockError`.
        """
        with self.lock.hold(timeout):
            yield

    def schema_version(self) -> int:
        """The compatibility version in ``schema_version`` (1; what hotlines from before
        migrations check)."""
        return int(self._schema.version())

    def schema_revision(self) -> str | None:
        """The Alembic revision the store is at (``None``: a store from before migrations,
        opened read-only)."""
        return ", ".join(sorted(self._schema.revisions())) or None

    def counts(self) -> dict[str, int]:
        """Row count of every table (for reports and tests)."""
        with self.engine.connect() as conn:
            return {
                name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar())
                for name, t in self.tables.items()
            }


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets `hotline serve` read while `hotline events` writes; busy_timeout waits for a
    # writer instead of failing at once.
    cur = dbapi_connection.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
    finally:
        cur.close()
