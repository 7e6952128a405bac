"""The event store on a real PostgreSQL server next to SQLite (issue 16 item 4): the store's
behaviour on both, `hotline events` giving the same store on both, concurrent writers from
several processes, and the schema created and upgraded by the Alembic migrations.

The server is the session fixture ``postgres_url`` (tests/conftest.py): a throw-away one
started from the installed PostgreSQL, or ``HOTLINE_TEST_POSTGRES_URL``. Each test gets a new
empty database on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
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
from events.pipeline import EventsConfig, run_events
from events.signals import build_signals
from events.store import EventStore, StoreLockError, StoreSchemaError, _metadata, caller_key
from ingest.options import ReaderOptions
from tests.postgres import fresh_database
from tests.test_events_store import _records

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "complaints.csv"
BACKENDS = ["sqlite", "postgresql"]
HEAD = ", ".join(sorted(migrations.heads()))
WRITES = {"CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE"}


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A new empty PostgreSQL database (dropped after the test)."""
    with fresh_database(postgres_url) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store location on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ev.db'}"
    return request.getfixturevalue("pg_url")


# -- the store's behaviour on both backends (cases of tests/test_events_store.py) ----------------


def test_same_batch_twice_changes_nothing(store_url: str) -> None:
    with EventStore(store_url) as store:
        recs = _records()
        preds = pd.DataFrame(
            {
                "id": ["c1", "c2"],
                "label": ["供水供电燃气", "噪音扰民"],
                "score": [0.9, 0.8],
                "top_k": ['{"供水供电燃气": 0.9, "市容环卫": 0.1}', [{"label": "噪音扰民", "score": 0.8}]],
                "needs_review": [False, True],
                "model_version": "v1",
            }
        )
        for _ in range(2):
            store.upsert_complaints(recs)
            store.upsert_predictions(preds)
        counts = store.counts()
        assert counts["complaints"] == 3 and counts["predictions"] == 2
        stored = store.read_complaints(["c1"])
        assert "13812345678" not in stored.loc[0, "text"] and "[手机号]" in stored.loc[0, "text"]
        assert stored.loc[0, "caller"] == caller_key("C001") != "C001"
        assert stored.loc[0, "time"] == pd.Timestamp("2026-05-01 10:00")
        p = store.read_predictions(["c1", "c2"])
        assert p.set_index("complaint_id").loc["c1", "top_k"] == {"供水供电燃气": 0.9, "市容环卫": 0.1}
        store.upsert_predictions(preds.assign(model_version="v2", label=["市容环卫", "噪音扰民"]))
        assert store.counts()["predictions"] == 4
        latest = store.read_predictions(["c1"])
        assert len(latest) == 1 and latest.loc[0, "label"] == "市容环卫"


def test_alerts_upsert_and_read(store_url: str) -> None:
    with EventStore(store_url) as store:
        alert = {
            "alert_id": "burst|2026-07-14|category=供水供电燃气|district=城南区",
            "date": "2026-07-14",
            "series_key": "category=供水供电燃气|district=城南区",
            "kind": "burst",
            "observed": 31,
            "expected": 2.5,
            "score": 9.5,
            "incident_ids": ["INC-20260714-1bec4ecc"],
            "examples": ["人民南路爆管，联系13812345678"],
            "keywords": ["爆管", "停水"],
            "first_seen": "2026-07-14 06:10",
        }
        other = {"alert_id": "a2", "date": "2026-07-01", "kind": "interval", "score": 1.0}
        assert store.upsert_alerts([alert, other]) == 2
        store.upsert_alerts(pd.DataFrame([{**alert, "score": 10.5}]))
        out = store.read_alerts()
        assert out["alert_id"].tolist() == [alert["alert_id"], "a2"]
        assert out.loc[0, "score"] == 10.5 and out.loc[0, "date"] == "2026-07-14"
        assert out.loc[0, "incident_ids"] == ["INC-20260714-1bec4ecc"]
        assert "13812345678" not in out.loc[0, "examples"][0]
        assert len(store.read_alerts(since="2026-07-10")) == 1


def test_signals_round_trip(store_url: str) -> None:
    with EventStore(store_url) as store:
        signals = build_signals(
            pd.DataFrame(
                {
                    "id": ["a", "b"],
                    "time": pd.to_datetime(["2026-05-01", "2026-05-03"]),
                    "category": ["供水", "供水"],
                    "district": ["江北区", "江北区"],
                    "incident_id": ["I1", "I1"],
                }
            )
        )
        store.replace_signals(signals)
        store.replace_signals(signals)
        out = store.read_signals("2026-05-02", "2026-05-03")
        assert out["date"].tolist() == ["2026-05-02", "2026-05-03"]
        assert out["calls"].tolist() == [0, 1] and out["is_holiday"].tolist() == [True, True]
        assert len(store.read_signals()) == 3


def test_schema_checks(store_url: str) -> None:
    EventStore(store_url).close()
    engine = sa.create_engine(store_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE schema_version SET version = 99"))
    with pytest.raises(StoreSchemaError, match="newer"):
        EventStore(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE schema_version SET version = 1"))
        # a store migrated by a newer hotline carries a revision this one does not know
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreSchemaError, match=r"newer hotline.*9999"):
        EventStore(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE schema_version"))
    with pytest.raises(StoreSchemaError, match="not created by hotline"):
        EventStore(store_url)
    engine.dispose()


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
        complaints = st.read_complaints().sort_values("id").reset_index(drop=True)
        members = st.read_members()
        incidents = st.read_incidents(order="first_seen").sort_values("incident_id")
        signals = st.read_signals()
        events = st.read_events().sort_values("complaint_id")
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


def _thirds(tmp_path: Path) -> list[Path]:
    df = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    size = -(-len(df) // 3)
    paths = []
    for i in range(3):
        p = tmp_path / f"part{i}.csv"
        df.iloc[i * size : (i + 1) * size].to_csv(p, index=False)
        paths.append(p)
    return paths


@pytest.mark.slow  # three `hotline events` processes + a sequential run: ~1 min CPU, 3 min on 2 busy cores
def test_concurrent_writers_lose_and_duplicate_nothing(postgres_url: str, tmp_path: Path) -> None:
    parts = _thirds(tmp_path)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "hotline.cli", "events"]
    with fresh_database(postgres_url) as url, fresh_database(postgres_url) as seq_url:
        # All three start on an empty database: they also race to create the schema.
        procs = [
            subprocess.Popen(
                [*cmd, str(p), "--store", url, "--gazetteer", "none", "--lock-timeout", "280"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for p in parts
        ]
        outputs = []
        for p in procs:
            try:
                out, _ = p.communicate(timeout=300)
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
            outputs.append(out)
        assert [p.returncode for p in procs] == [0, 0, 0], "\n".join(outputs)
        got = _snapshot(url)
        # The runs were serialised by the lock; the order they ran in is the order their
        # complaints were loaded. A sequential run in that order must give the same store.
        with EventStore(url, create=False) as st:
            loaded = st.read_complaints()[["id", "loaded_at"]]
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
        assert st.meta()["caller_key_scheme"]
        with st.engine.connect() as conn:
            # What the migrations built is what the code expects: a change to the model
            # without a migration fails here.
            diff = compare_metadata(MigrationContext.configure(conn), _metadata()[0])
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
        assert st.schema_revision() is None and len(st.read_complaints()) == 1
    assert _revision(store_url) == set()
    with EventStore(store_url) as st:
        assert st.schema_revision() == HEAD
        assert st.schema_version() == 1
        assert st.read_complaints()["id"].tolist() == ["old1"]
        assert st.read_incidents()["incident_id"].tolist() == ["INC-old"]
        assert st.meta()["caller_key_scheme"] == "hmac-sha256-v1"
        st.upsert_complaints(pd.DataFrame({"id": ["new1"], "text": ["井盖丢了"]}))
        with st.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), _metadata()[0]) == []
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
