"""What the event-store tests share: a store location on each backend, the records they load,
SQL run behind the store's back, and `hotline events` processes racing on one store.

``store_url`` and ``pg_url`` are fixtures (made visible to every test by tests/conftest.py);
the rest are plain helpers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.postgres import fresh_database

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "complaints.csv"
PHONE = "13812345678"


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A new empty PostgreSQL database (dropped after the test)."""
    with fresh_database(postgres_url) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store location on each backend (PostgreSQL: a new database)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ev.db'}"
    return request.getfixturevalue("pg_url")


def complaint_records() -> pd.DataFrame:
    """Three complaints as ingest reads them: a phone number in a text, one caller twice."""
    return pd.DataFrame(
        {
            "row": [1, 2, 3],
            "id": ["c1", "c2", "c3"],
            "title": ["停水", "噪音", "井盖"],
            "text": [f"小区停水，电话{PHONE}", "夜间施工噪音", "井盖丢了"],
            "time": pd.to_datetime(["2026-05-01 10:00", "2026-05-02 23:00", "2026-05-04 08:00"]),
            "district": ["江北区", "", "城南区"],
            "label": ["供水", "噪音", ""],
            "caller": ["C001", "C001", None],
        }
    )


def prediction_records() -> pd.DataFrame:
    """Predictions of model v1 for c1 and c2, ``top_k`` in both accepted shapes."""
    return pd.DataFrame(
        {
            "id": ["c1", "c2"],
            "label": ["供水供电燃气", "噪音扰民"],
            "score": [0.9, 0.8],
            "top_k": ['{"供水供电燃气": 0.9, "市容环卫": 0.1}', [{"label": "噪音扰民", "score": 0.8}]],
            "needs_review": [False, True],
            "model_version": "v1",
        }
    )


def execute(url: str, *statements: str) -> None:
    """Run SQL on a store behind its back, in one transaction (to age or break it)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def split_sample(tmp_path: Path, parts: int, rows: int | None = None) -> list[Path]:
    """The sample log (its first ``rows``) cut into ``parts`` consecutive CSV files."""
    df = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    if rows is not None:
        df = df.iloc[:rows]
    size = -(-len(df) // parts)
    paths = []
    for i in range(parts):
        p = tmp_path / f"part{i}.csv"
        df.iloc[i * size : (i + 1) * size].to_csv(p, index=False)
        paths.append(p)
    return paths


def concurrent_events(logs: list[Path], store: str, cwd: Path, *options: str) -> list[str]:
    """Run one `hotline events LOG --store STORE` process per log, all at once; their outputs
    (each process must succeed)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "hotline.cli", "events"]
    procs = [
        subprocess.Popen(
            [*cmd, str(log), "--store", store, "--gazetteer", "none", *options],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for log in logs
    ]
    outputs = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        outputs.append(out)
    assert [p.returncode for p in procs] == [0] * len(procs), "\n".join(outputs)
    return outputs
