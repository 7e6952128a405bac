"""Opening a store: its schema checked, created or upgraded by the Alembic migrations.

The migrations (:mod:`events.migrations`) run when a store is opened for writing, under the
writer lock: a new database is upgraded to the head revision, an older one upgraded, and one
from before migrations (``schema_version`` 1, no ``alembic_version``) stamped at the baseline
first. A store at a revision this hotline does not know (a newer hotline migrated it) raises
:class:`StoreSchemaError`. Table ``schema_version`` stays at :data:`SCHEMA_VERSION` for
hotlines from before migrations, which check only it.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from events import migrations
from events.store.errors import StoreError, StoreSchemaError
from events.store.locking import WriterLock
from events.store.meta import META_CALLER_SCHEME, Callers
from events.store.schema import SCHEMA_VERSION

logger = logging.getLogger(__name__)


class Migrator:
    """Checks one store's schema against this hotline's and brings it to the head revision."""

    def __init__(
        self,
        engine: sa.Engine,
        metadata: sa.MetaData,
        tables: dict[str, sa.Table],
        label: str,
        lock: WriterLock,
        callers: Callers,
    ) -> None:
        self.engine = engine
        self.metadata = metadata
        self.tables = tables
        self.label = label  # the store's URL without its password
        self.lock = lock
        self.callers = callers

    def open(self, *, create: bool) -> None:
        if not create or self._ready():
            self._check(create=create)
            return
        # Creating tables or migrating: one process at a time, or a second one finds a half-made
        # store (an empty schema_version) and refuses it, or runs the same migration twice.
        with self.lock.hold():
            self._check(create=create)

    def revisions(self, existing: set[str] | None = None) -> frozenset[str]:
        """The Alembic revision(s) the store is at (empty: never migrated). Read directly:
        alembic's MigrationContext logs at INFO on every store opened."""
        if existing is None:
            existing = set(sa.inspect(self.engine).get_table_names())
        if "alembic_version" not in existing:
            return frozenset()
        version = sa.table("alembic_version", sa.column("version_num"))
        with self.engine.connect() as conn:
            return frozenset(str(r) for r in conn.execute(sa.select(version.c.version_num)).scalars())

    def version(self) -> int | None:
        """What table ``schema_version`` holds (``None``: empty)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(self.tables["schema_version"].c.version))).scalar()

    def _ready(self) -> bool:
        """True when the store is complete and migrated (nothing to write on opening it)."""
        try:
            existing = set(sa.inspect(self.engine).get_table_names())
            if not (set(self.tables) | {"alembic_version"}) <= existing:
                return False
            revisions = self.revisions(existing)
            version = self.version()
            with self.engine.connect() as conn:
                meta = self.tables["store_meta"]
                scheme = conn.execute(
                    sa.select(meta.c.value).where(meta.c.key == META_CALLER_SCHEME)
                ).scalar()
        except sa.exc.SQLAlchemyError:
            return False
        return revisions == migrations.heads() and version == SCHEMA_VERSION and scheme is not None

    def _check(self, *, create: bool) -> None:
        try:
            insp = sa.inspect(self.engine)
            existing = set(insp.get_table_names())
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot open the event store {self.label}: {exc.orig}") from exc
        ours = set(self.tables)
        if "schema_version" in existing:
            # Kept at 1 by the migrations so that a hotline from before them still recognises
            # the store; checked first so that such a store refuses the same way it always did.
            found = self.version()
            if found is None and create and self._is_unfinished(existing):
                # A creation that stopped between the tables and the version row (a crash, or a
                # hotline without the writer lock): nothing was stored, so finish it (the
                # baseline revision creates only the missing tables).
                self._migrate(stamp=False)
                self.callers.mark_legacy()
                return
            if found is None:
                raise StoreSchemaError(
                    f"{self.label}: table schema_version is empty; this is not a complete hotline "
                    "event store - point --store at a new file or an empty database"
                )
            if found > SCHEMA_VERSION:
                raise StoreSchemaError(
                    f"{self.label} has event-store schema version {found}, newer than this hotline "
                    f"supports ({SCHEMA_VERSION}); upgrade hotline (pip install -U hotline) to use it"
                )
            if found < SCHEMA_VERSION:
                raise StoreSchemaError(
                    f"{self.label} has event-store schema version {found}, older than this hotline "
                    f"({SCHEMA_VERSION}); rebuild it: run `hotline events INPUT --store NEW_STORE` on the "
                    "original logs (the old store is left untouched)"
                )
        else:
            clash = ours & existing
            if clash:
                raise StoreSchemaError(
                    f"{self.label} already has table(s) {', '.join(sorted(clash))} but no "
                    "schema_version table: it was not created by hotline; use another database or file "
                    "for --store"
                )
            if not create:
                raise StoreError(f"{self.label} is not a hotline event store; run `hotline events` first")
        current = self.revisions(existing)
        unknown = sorted(r for r in current if not migrations.is_known(r))
        if unknown:
            raise StoreSchemaError(
                f"{self.label} was migrated by a newer hotline (schema revision "
                f"{', '.join(unknown)}, unknown here); upgrade hotline (pip install -U hotline) to use it"
            )
        if current == migrations.heads():
            missing = ours - existing
            if missing and create:
                # At head the model is the schema, so a dropped table can be made again as it
                # was (it was empty or its rows are gone either way).
                logger.warning("%s: recreating missing table(s) %s", self.label, sorted(missing))
                self.metadata.create_all(self.engine, tables=[self.tables[n] for n in sorted(missing)])
            if create:
                self.callers.mark_legacy()
            return
        if not create:
            if not current:
                return  # a store from before migrations, read as it is; the next writer stamps it
            raise StoreSchemaError(
                f"{self.label} is at schema revision {', '.join(sorted(current))}, older than this "
                f"hotline's ({', '.join(sorted(migrations.heads()))}); open it for writing once "
                "(`hotline events INPUT --store STORE`) to upgrade it"
            )
        # A store written before migrations (schema_version 1, no alembic_version) is at the
        # baseline revision: stamp it there, then upgrade like any other.
        self._migrate(stamp="schema_version" in existing and not current)
        self.callers.mark_legacy()

    def _migrate(self, *, stamp: bool) -> None:
        """Upgrade the store to the head revision in one transaction (``stamp``: first mark a
        pre-migration store as being at :data:`events.migrations.BASELINE`, creating the
        baseline tables it lacks - ``store_meta`` in stores older than it)."""
        from alembic import command

        before = self.revisions()
        with self.engine.begin() as conn:
            cfg = migrations.alembic_config(connection=conn)
            if stamp:
                made = migrations.baseline_module().create_missing(conn)
                command.stamp(cfg, migrations.BASELINE)
                logger.info(
                    "%s: store from before migrations stamped at revision %s%s",
                    self.label,
                    migrations.BASELINE,
                    f" (created {', '.join(made)})" if made else "",
                )
            command.upgrade(cfg, "head")
        logger.info(
            "event store %s migrated from revision %s to %s",
            self.label,
            ", ".join(sorted(before)) or ("baseline" if stamp else "empty"),
            ", ".join(sorted(migrations.heads())),
        )

    def _is_unfinished(self, existing: set[str]) -> bool:
        if "complaints" not in existing:
            return True
        with self.engine.connect() as conn:
            return not conn.execute(sa.select(self.tables["complaints"].c.id).limit(1)).first()
