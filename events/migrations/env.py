"""Alembic environment of the event store (run by alembic.command; see events.migrations)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from events.store.errors import StoreError
from events.store.schema import build_metadata

config = context.config
# The model the head revision must equal (autogenerate compares against it).
target_metadata = build_metadata()[0]


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER columns: autogenerate writes batch operations for it.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise StoreError("events.migrations: give alembic_config() a store URL or a connection")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


run()
