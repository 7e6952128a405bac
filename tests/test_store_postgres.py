"""The event store on a real PostgreSQL server next to SQLite (issue 16 item 4): the writer
lock, `hotline events` giving the same store on both, concurrent writers from several
processes, and the schema created and upgraded by the Alembic migrations. (The store's own
cases run on both backends in tests/test_events_store.py.)

The server is the session fixture ``postgres_url`` (tests/conftest.py): a throw-away one
started from the installed PostgreSQL, or ``HOTLINE_TEST_POSTGRES_URL``. Each test gets a new
empty database on it (``pg_url``, ``store_url``: tests/store_fixtures.py).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from events import migrations
from events.config import EventsConfig
from events.pipeline import run_events
from events.store import EventStore, StoreLockError
from events.store.schema import build_metadata
from ingest.options import ReaderOptions
from tests.postgres import fresh_database
from tests.store_fixtures import SAMPLE, concurrent_events, split_sample

pytestmark = pytest.mark.postgres

HEAD = ", ".join(sorted(migrations.heads()))
WRITES = {"CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE"}


# -- writer lock: pg_advisory_lock for real --------------------------------------------------------


def test_postgres_writer_lock_excludes_other_writers(pg_url: str) -> None:
    first, second = EventStore(pg_url), EventStore(pg_url)
    try:
        with first.writer_lock():
            with pytest.raises(StoreLockError, match="pg_advisory_lock"), second.writer_lock(timeout=0.6):
                pass
            with first.writer_lock():  # re-entrant in one store object
                pass
        with second.writer_lock(timeout=5):  # released: the other one gets it at once
            pass
    finally:
        first.close()
        second.close()


# -- `hotline events` on the sample: the same store on both backends -------------------------------


def _snapshot(url: str) -> dict[str, object]:
    with EventStore(url, create=False) as st:
        complaints = st.complaints.read().sort_values("id").reset_index(drop=True)
        members = st.incidents.read_members()
        incidents = st.incidents.read(order="first_seen").sort_values("incident_id")
        signals = st.signals.read()
        events = st.complaints.read_events().sort_values("complaint_id")
    return {
        "complaints": complaints[
            ["id", "time", "title", "text", "district", "label", "caller", "content_hash"]
        ],
        "partition": frozenset(frozenset(g["complaint_id"]) for _, g in members.groupby("incident_id")),
        "members": dict(zip(members["complaint_id"], members["incident_id"], strict=True)),
        "incidents": incidents[
            [
                "incident_id",
                "category",
                "district",
                "anchor",
                "first_seen",
                "last_seen",
                "n_complaints",
                "n_callers",
                "urgency",
                "representative_id",
            ]
        ].reset_index(drop=True),
        "heat": incidents["heat"].round(9).tolist(),
        "signals": signals,
        "events": events[["complaint_id", "category", "district", "location_key", "urgency"]].reset_index(
            drop=True
        ),
    }


def _assert_same(a: dict[str, object], b: dict[str, object]) -> None:
    for key in a:
        if isinstance(a[key], pd.DataFrame):
            pd.testing.assert_frame_equal(a[key], b[key], check_dtype=False, obj=key)
        else:
            assert a[key] == b[key], key


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(150, id="150-rows"),
        # two full runs of the pipeline: ~50 s on 2 busy cores
        pytest.param(None, id="sample", marks=pytest.mark.slow),
    ],
)
def test_hotline_events_same_on_postgres_and_sqlite(pg_url: str, tmp_path: Path, rows: int | None) -> None:
    from hotline.cli import app

    log = SAMPLE
    if rows is not None:
        log = tmp_path / "head.csv"
        pd.read_csv(SAMPLE, dtype=str, keep_default_na=False).iloc[:rows].to_csv(log, index=False)
    runner = CliRunner()
    sqlite_url = f"sqlite:///{tmp_path / 'events.db'}"
    for url in (sqlite_url, pg_url):
        result = runner.invoke(app, ["events", str(log), "--store", url, "--gazetteer", "none"])
        assert result.exit_code == 0, f"{url}: {result.output}\n{result.exception!r}"
    lite, pg = _snapshot(sqlite_url), _snapshot(pg_url)
    n = len(pd.read_csv(log, dtype=str))
    assert 0.8 * n <= len(lite["complaints"]) <= n  # a few malformed rows are rejected, no more
    assert max(len(p) for p in lite["partition"]) >= 2  # some complaints were grouped
    assert len(lite["signals"]) > 0
    _assert_same(lite, pg)


# -- concurrent writers against PostgreSQL --------------------------------------------------------


@pytest.mark.slow  # three `hotline events` processes + a sequential run: ~1 min CPU, 3 min on 2 busy cores
def test_concurrent_writers_lose_and_duplicate_nothing(postgres_url: str, tmp_path: Path) -> None:
    parts = split_sample(tmp_path, 3)
    with fresh_database(postgres_url) as url, fresh_database(postgres_url) as seq_url:
        # All three start on an empty database: they also race to create the schema.
        concurrent_events(parts, url, tmp_path, "--lock-timeout", "280")
        got = _snapshot(url)
        # The runs were serialised by the lock; the order they ran in is the order their
        # complaints were loaded. A sequential run in that order must give the same store.
        with EventStore(url, create=False) as st:
            loaded = st.complaints.read()[["id", "loaded_at"]]
        first_load = []
        for p in parts:
            ids = set(pd.read_csv(p, dtype=str, keep_default_na=False)["id"])
            first_load.append(loaded[loaded["id"].isin(ids)]["loaded_at"].min())
        order = [parts[i] for i in sorted(range(3), key=lambda i: first_load[i])]
        with EventStore(seq_url) as st:
            cfg = EventsConfig(gazetteer="none", progress=False)
            for log in order:
                run_events(log, st, ReaderOptions(), cfg, rejects_path=tmp_path / "seq.rejects.csv")
        expected = _snapshot(seq_url)
    assert len(got["complaints"]) == len(expected["complaints"])
    assert got["complaints"]["id"].is_unique  # nothing duplicated
    _assert_same(expected, got)


# -- schema by migrations --------------------------------------------------------------------------


def _revision(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()


def test_new_store_is_at_head_and_matches_the_model(store_url: str) -> None:
    with EventStore(store_url) as st:
        assert st.schema_revision() == HEAD
        assert st.schema_version() == 1
        assert st.meta.read()["caller_key_scheme"]
        with st.engine.connect() as conn:
            # What the migrations built is what the code expects: a change to the model
            # without a migration fails here.
            diff = compare_metadata(MigrationContext.configure(conn), build_metadata()[0])
    assert diff == []
    assert _revision(store_url) == set(migrations.heads())


def _old_style_store(url: str, *, with_store_meta: bool = True) -> None:
    """A store as hotline wrote it before migrations: the version-1 tables, schema_version 1,
    no alembic_version; one complaint and one incident in it."""
    now = datetime(2026, 5, 1, 12, 0)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    tables = migrations.baseline_module().baseline_tables()
    with engine.begin() as conn:
        for name, table in tables.items():
            if name != "store_meta" or with_store_meta:
                table.create(conn)
        conn.execute(tables["schema_version"].insert().values(version=1, applied_at=now))
        if with_store_meta:
            conn.execute(
                tables["store_meta"]
                .insert()
                .values(key="caller_key_scheme", value="hmac-sha256-v1", updated_at=now)
            )
        conn.execute(
            tables["complaints"]
            .insert()
            .values(id="old1", time=now, title="停水", text="小区停水", district="江北区", label="供水",
                    likes=0, source="old.csv", content_hash="h", loaded_at=now)
        )  # fmt: skip
        conn.execute(
            tables["incidents"]
            .insert()
            .values(incident_id="INC-old", category="供水", first_seen=now, last_seen=now, n_complaints=1,
                    created_at=now)
        )  # fmt: skip
    engine.dispose()


@pytest.mark.parametrize("with_store_meta", [True, False], ids=["v1", "v1-before-store-meta"])
def test_old_store_is_stamped_and_keeps_its_data(store_url: str, with_store_meta: bool) -> None:
    _old_style_store(store_url, with_store_meta=with_store_meta)
    assert _revision(store_url) == set()
    with EventStore(store_url, create=False) as st:  # read-only: opened as it is, not stamped
        assert st.schema_revision() is None and len(st.complaints.read()) == 1
    assert _revision(store_url) == set()
    with EventStore(store_url) as st:
        assert st.schema_revision() == HEAD
        assert st.schema_version() == 1
        assert st.complaints.read()["id"].tolist() == ["old1"]
        assert st.incidents.read()["incident_id"].tolist() == ["INC-old"]
        assert st.meta.read()["caller_key_scheme"] == "hmac-sha256-v1"
        st.complaints.upsert(pd.DataFrame({"id": ["new1"], "text": ["井盖丢了"]}))
        with st.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), build_metadata()[0]) == []
    assert _revision(store_url) == set(migrations.heads())


def test_upgrading_twice_is_a_no_op(store_url: str) -> None:
    _old_style_store(store_url)
    EventStore(store_url).close()  # stamped and upgraded
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement.strip().split()[0].upper())

    # On every engine: the store's own too, made inside EventStore().
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        engine = sa.create_engine(store_url, poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            command.upgrade(migrations.alembic_config(connection=conn), "head")
        engine.dispose()
        with EventStore(store_url) as st:  # opening it again writes nothing either
            assert st.counts()["complaints"] == 1
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
    assert statements and not WRITES & set(statements), statements
    assert _revision(store_url) == set(migrations.heads())
