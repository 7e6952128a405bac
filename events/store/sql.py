"""What every repository of the store shares: idempotent upserts and reads by id, in batches.

No SQL text is written by hand: upserts use each dialect's ``INSERT ... ON CONFLICT DO UPDATE``
(SQLite, PostgreSQL); other dialects fall back to delete-then-insert in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from events.store.schema import KEEP_ON_CONFLICT

BATCH_ROWS = 500


def chunks(rows: list[dict[str, Any]], size: int = BATCH_ROWS) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def frame(result: sa.CursorResult | None, query: sa.Select | None = None) -> pd.DataFrame:
    """A query result as a DataFrame (``None``: the empty frame of ``query``'s columns)."""
    if result is None:
        assert query is not None
        return pd.DataFrame(columns=[c.name for c in query.selected_columns])
    return pd.DataFrame(result.mappings().all(), columns=list(result.keys()))


def where_series(query: sa.Select, table: sa.Table, category: str | None, district: str | None) -> sa.Select:
    """``query`` narrowed to one category and/or district (an empty one does not narrow)."""
    if category:
        query = query.where(table.c.category == category)
    if district:
        query = query.where(table.c.district == district)
    return query


class Repository:
    """One aggregate's tables on the store's engine.

    ``safe_id`` maps a complaint id to the id it is stored under (one holding personal data is
    masked, see :meth:`events.store.meta.Callers.safe_id`).
    """

    def __init__(
        self,
        engine: sa.Engine,
        tables: dict[str, sa.Table],
        safe_id: Callable[[Any], str] | None = None,
    ) -> None:
        self.engine = engine
        self.tables = tables
        self._safe_id = safe_id

    def safe_id(self, value: Any) -> str:
        assert self._safe_id is not None, f"{type(self).__name__} reads no complaint ids"
        return self._safe_id(value)

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
        dialect = self.engine.dialect.name
        for batch in chunks(rows):
            if dialect in ("sqlite", "postgresql"):
                if dialect == "sqlite":
                    from sqlalchemy.dialects.sqlite import insert
                else:
                    from sqlalchemy.dialects.postgresql import insert
                stmt = insert(table)
                update = {
                    c.name: stmt.excluded[c.name]
                    for c in table.columns
                    if c.name not in keys and c.name not in KEEP_ON_CONFLICT
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

    def _read(self, query: sa.Select) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return frame(conn.execute(query))

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
                return frame(conn.execute(query.order_by(*order)))
            # Complaint ids are looked up as they were stored (one holding personal data is
            # masked). Incident ids are ours and never mapped: the digits of INC-YYYYMMDD-<hex>
            # can look like a bank card number.
            ids = [self.safe_id(i) for i in ids] if complaint_ids else [str(i) for i in ids]
            frames = [
                frame(conn.execute(query.where(column.in_(ids[i : i + BATCH_ROWS])).order_by(*order)))
                for i in range(0, len(ids), BATCH_ROWS)
            ]
        frames = [f for f in frames if len(f)]
        if not frames:
            return frame(None, query)
        return pd.concat(frames, ignore_index=True)
