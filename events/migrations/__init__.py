"""Alembic migrations of the event store's schema, configured in code (no ``alembic.ini``).

:class:`events.store.EventStore` runs them when it opens a store for writing
(:mod:`events.store.migrate`): a new database is created by upgrading it to the head revision,
an older one is upgraded, and a store written before migrations existed (a ``schema_version``
table, no ``alembic_version``) is stamped at :data:`BASELINE` first. Revisions live in ``versions/``; ``0001`` is the schema hotline had when
migrations were introduced (``schema_version`` 1, including ``store_meta``).

A new revision, after changing :func:`events.store.schema.build_metadata`::

    from alembic import command
    from events.migrations import alembic_config
    command.revision(alembic_config("sqlite:///scratch.db"), message="what changed",
                     autogenerate=True)   # scratch.db upgraded to the current head first

then edit the file it writes (SQLite needs ``op.batch_alter_table`` to alter a table) and give
it a short readable ``revision`` id (``0002``, ...).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory

HERE = Path(__file__).resolve().parent
# The revision a pre-migration store (schema_version 1) is stamped at.
BASELINE = "0001"


def alembic_config(url: str | None = None, connection: Any = None) -> Config:
    """An Alembic :class:`~alembic.config.Config` for the store migrations; ``connection`` (a
    SQLAlchemy Connection, in a transaction) is used by ``env.py`` when given, else ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    # Alembic interpolates %-signs in options (a URL-encoded password has them).
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.lru_cache(maxsize=1)
def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def heads() -> frozenset[str]:
    """The head revision(s) of this hotline's migrations (one while history is linear)."""
    return frozenset(script_directory().get_heads())


def is_known(revision: str) -> bool:
    """Whether ``revision`` is one of this hotline's migrations (a store upgraded by a newer
    hotline carries one that is not). Exact ids: alembic's own lookup accepts prefixes."""
    return revision in revisions()


@functools.lru_cache(maxsize=1)
def revisions() -> frozenset[str]:
    """Every revision id of this hotline's migrations."""
    return frozenset(s.revision for s in script_directory().walk_revisions())


def baseline_module() -> Any:
    """The module of the :data:`BASELINE` revision (its ``create_missing(connection)`` creates
    the version-1 tables a database lacks)."""
    return script_directory().get_revision(BASELINE).module
