"""What forecasting reads (and the alerts it writes): typed protocols, and the one adapter.

Forecasting never touches the event store itself. It reads through a :class:`SignalSource`:
the daily signals (always), and - when the source has them - the stored alerts, the complaints
and the incidents. Each part is a small protocol with the methods forecasting calls on the
matching repository of ``events.store.EventStore`` (``store.signals``, ``store.alerts``,
``store.complaints``, ``store.incidents``); a part the source does not have is ``None``, and the
caller says what is then not shown instead of probing for methods.

:func:`signal_source` is the single adapter from an event store (or a test double with some of
its repositories) to that protocol, and the only code in ``forecasting`` that knows the store.
It uses, of ``EventStore``:

==============================  ================================================================
``signals.read``                ``store.signals.read(start, end)``
``alerts.read / upsert``        ``store.alerts.read(since, limit)``, ``store.alerts.upsert(records)``
``complaints.read``             ``store.complaints.read(ids, since=, until=)``
``complaints.read_events``      ``store.complaints.read_events(ids)``
``incidents.read``              ``store.incidents.read(since=, until=, category=, district=,
                                min_complaints=, limit=, order=, ids=)``
``incidents.read_members``      ``store.incidents.read_members(incident_ids)``
``incidents.members_detail``    ``store.incidents.members_detail(incident_ids)``
``placed_complaints``           :func:`events.signals.signal_source_frame` (``store.signals.source()``
                                and ``store.complaints.read_predictions()``)
``change_token``                one SQL query over the ``signals`` and ``complaints`` tables
                                (``store.tables``, ``store.engine``), else ``store.counts()``
``name``                        ``repr(store)`` (the URL without its password)
==============================  ================================================================
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

import pandas as pd

DateLike = date | datetime | str
T = TypeVar("T")


class SignalReader(Protocol):
    """Daily signals: the contract of :mod:`forecasting.signals`."""

    def read(self, start: DateLike | None = None, end: DateLike | None = None) -> pd.DataFrame: ...


class AlertLog(Protocol):
    """Stored surge alerts (the records :meth:`forecasting.alert_records.Alert.to_record` makes)."""

    def read(self, since: DateLike | None = None, limit: int | None = 100) -> pd.DataFrame: ...

    def upsert(self, records: Sequence[Mapping[str, Any]]) -> int: ...


class ComplaintReader(Protocol):
    """Stored complaints (masked texts) and the event fields extracted from them."""

    def read(
        self,
        ids: Sequence[str] | None = None,
        *,
        since: DateLike | None = None,
        until: DateLike | None = None,
    ) -> pd.DataFrame: ...

    def read_events(self, ids: Sequence[str] | None = None) -> pd.DataFrame: ...


class IncidentReader(Protocol):
    """Incidents (groups of complaints about one problem in one place) and their members."""

    def read(
        self,
        *,
        since: DateLike | None = None,
        until: DateLike | None = None,
        category: str | None = None,
        district: str | None = None,
        min_complaints: int = 1,
        limit: int | None = None,
        order: str = "heat",
        ids: Sequence[str] | None = None,
    ) -> pd.DataFrame: ...

    def read_members(self, incident_ids: Sequence[str] | None = None) -> pd.DataFrame: ...

    def members_detail(self, incident_ids: Sequence[str]) -> pd.DataFrame: ...


class SignalSource(Protocol):
    """Everything forecasting reads; parts it may lack are ``None``."""

    @property
    def name(self) -> str:
        """Where the signals come from (for error messages)."""
        ...

    @property
    def key(self) -> Hashable:
        """The identity of the underlying data, for values kept across requests."""
        ...

    @property
    def signals(self) -> SignalReader: ...

    @property
    def alerts(self) -> AlertLog | None: ...

    @property
    def complaints(self) -> ComplaintReader | None: ...

    @property
    def incidents(self) -> IncidentReader | None: ...

    def placed_complaints(self) -> pd.DataFrame:
        """One row per complaint: ``id``, ``time``, ``category``, ``district``, ``incident_id``,
        category and district as the signals count them (empty when the source cannot say)."""
        ...

    def change_token(self) -> Hashable:
        """A cheap value that changes when the signals or complaints do."""
        ...


# -- the adapter ---------------------------------------------------------------------------------
# What a store (or a test double) may hold, as runtime-checkable protocols: a double may have any
# of the repositories, and what it lacks becomes a part that is None.


@runtime_checkable
class _Signals(Protocol):
    signals: object


@runtime_checkable
class _Alerts(Protocol):
    alerts: object


@runtime_checkable
class _Complaints(Protocol):
    complaints: object


@runtime_checkable
class _Incidents(Protocol):
    incidents: object


@runtime_checkable
class _Readable(Protocol):
    def read(self, *args: Any, **kwargs: Any) -> pd.DataFrame: ...


@runtime_checkable
class _AlertRepository(Protocol):
    def read(self, *args: Any, **kwargs: Any) -> pd.DataFrame: ...

    def upsert(self, records: Any) -> int: ...


@runtime_checkable
class _ComplaintRepository(Protocol):
    def read(self, *args: Any, **kwargs: Any) -> pd.DataFrame: ...

    def read_events(self, ids: Any = None) -> pd.DataFrame: ...


@runtime_checkable
class _Predictions(Protocol):
    def read_predictions(self, ids: Any = None) -> pd.DataFrame: ...


@runtime_checkable
class _IncidentRepository(Protocol):
    def read(self, *args: Any, **kwargs: Any) -> pd.DataFrame: ...

    def read_members(self, incident_ids: Any = None) -> pd.DataFrame: ...

    def members_detail(self, incident_ids: Any) -> pd.DataFrame: ...


@runtime_checkable
class _SignalRows(Protocol):
    def source(self) -> pd.DataFrame: ...


@runtime_checkable
class _SqlTables(Protocol):
    tables: Mapping[str, Any]
    engine: Any


@runtime_checkable
class _Counted(Protocol):
    def counts(self) -> dict[str, int]: ...


class StoreSource:
    """A :class:`SignalSource` over an event store (``events.store.EventStore``)."""

    def __init__(self, store: object) -> None:
        if not isinstance(store, _Signals) or not isinstance(store.signals, _Readable):
            raise TypeError(
                f"{type(store).__name__} has no daily signals (signals.read): not a signal source"
            )
        self.store = store
        # An EventStore's repr is its URL without the password: fit for an error message.
        self.name = repr(store) if isinstance(store, _SqlTables) else "store"
        self.key: Hashable = id(store)
        self.signals: SignalReader = store.signals  # type: ignore[assignment]
        self.alerts: AlertLog | None = (
            store.alerts  # type: ignore[assignment]
            if isinstance(store, _Alerts) and isinstance(store.alerts, _AlertRepository)
            else None
        )
        self.complaints: ComplaintReader | None = (
            store.complaints  # type: ignore[assignment]
            if isinstance(store, _Complaints) and isinstance(store.complaints, _ComplaintRepository)
            else None
        )
        self.incidents: IncidentReader | None = (
            store.incidents  # type: ignore[assignment]
            if isinstance(store, _Incidents) and isinstance(store.incidents, _IncidentRepository)
            else None
        )

    def placed_complaints(self) -> pd.DataFrame:
        placeable = isinstance(self.signals, _SignalRows) and isinstance(self.complaints, _Predictions)
        if self.complaints is None or not placeable:
            return pd.DataFrame(columns=["id", "time", "category", "district", "incident_id"])
        from events.signals import UNKNOWN_CATEGORY, UNKNOWN_DISTRICT, signal_source_frame

        src = signal_source_frame(self.store)  # type: ignore[arg-type]
        if src.empty:
            return src
        # The same normalisation as the signals (events.signals.build_signals), so that a
        # complaint lands in the series that counted it.
        src["category"] = src["category"].fillna("").astype(str).str.strip().replace("", UNKNOWN_CATEGORY)
        src["district"] = src["district"].fillna("").astype(str).replace("", UNKNOWN_DISTRICT)
        return src

    def change_token(self) -> Hashable:
        return change_token(self.store)


def signal_source(store: object) -> SignalSource:
    """The :class:`SignalSource` of an event store: the one place that maps its API."""
    return StoreSource(store)


def change_token(store: object) -> tuple[Any, ...]:
    """A cheap token that changes when the store's complaints or signals do: one SQL query.

    Row counts, the sum of calls and the latest date of the signals, the count and latest time
    of the complaints. An ingest adds complaints and rewrites signal counts; a rebuild of the
    signals changes their sum or dates. Stores without SQL tables (test doubles) fall back to
    their row counts.
    """
    if not isinstance(store, _SqlTables) or "signals" not in store.tables or "complaints" not in store.tables:
        counts = store.counts() if isinstance(store, _Counted) else {}
        return (counts.get("signals"), counts.get("complaints"))
    import sqlalchemy as sa

    sig, comp = store.tables["signals"], store.tables["complaints"]
    q = sa.select(
        sa.select(sa.func.count()).select_from(sig).scalar_subquery(),
        sa.select(sa.func.coalesce(sa.func.sum(sig.c.calls), 0)).scalar_subquery(),
        sa.select(sa.func.max(sig.c.date)).scalar_subquery(),
        sa.select(sa.func.count()).select_from(comp).scalar_subquery(),
        sa.select(sa.func.max(comp.c.time)).scalar_subquery(),
    )
    with store.engine.connect() as conn:
        row = conn.execute(q).one()
    return tuple(str(v) if v is not None and not isinstance(v, int) else v for v in row)


# -- values kept per source --------------------------------------------------------------------


class SourceCache:
    """Values computed from a signal source, kept while its change token is the same.

    The key is the source's identity and change token plus what the value depends on; ``ttl_s``
    bounds what a change the token cannot see could cost. Thread-safe: the service's request
    threads and its warm-up thread share it.
    """

    def __init__(self, size: int = 32, ttl_s: float = 300.0) -> None:
        self.size = size
        self.ttl_s = ttl_s
        self._kept: OrderedDict[tuple[Hashable, ...], tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, source: SignalSource, parts: tuple[Hashable, ...], compute: Callable[[tuple[Hashable, ...]], T]
    ) -> T:
        """The value kept for ``parts`` of ``source``, else ``compute(key)`` (the full key, token
        included, for a value that wants to say what it was built from)."""
        key = (source.key, source.change_token(), *parts)
        now = time.monotonic()
        with self._lock:
            hit = self._kept.get(key)
            if hit is not None and now - hit[0] < self.ttl_s:
                self._kept.move_to_end(key)
                return hit[1]  # type: ignore[no-any-return]
        value = compute(key)
        with self._lock:
            self._kept[key] = (now, value)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


# One per process: a service reads one store, and the CLI and reports read once.
SOURCE_CACHE = SourceCache()
