"""The event store: complaints, predictions, extracted events, incidents, daily signals, alerts.

One SQL database (SQLite or PostgreSQL) owned by an :class:`EventStore`: the engine, the writer
lock (:mod:`events.store.locking`), the schema checked and migrated on opening
(:mod:`events.store.migrate`, tables in :mod:`events.store.schema`), and one repository per
aggregate:

- ``store.complaints`` (:class:`~events.store.complaints.ComplaintRepository`): complaints,
  their classifier predictions and their extracted events;
- ``store.incidents`` (:class:`~events.store.incidents.IncidentRepository`): incidents and
  their members, hot issues, the grouping's candidates;
- ``store.signals`` (:class:`~events.store.signals.SignalRepository`): the daily signals;
- ``store.alerts`` (:class:`~events.store.alerts.AlertRepository`): surge alerts;
- ``store.meta`` and ``store.callers`` (:mod:`events.store.meta`): the store's own metadata
  and the keyed caller identity.

Writes are idempotent: every table has a natural key (complaint id; complaint id + model
version; incident id; date + category + district; alert id) and loading the same batch twice
leaves the same rows. Creation timestamps are kept on conflict, so a re-run changes nothing.

Only masked text is stored: titles and texts go through :func:`nlp.pii.mask_pii` again (cheap,
and a second line of defence for callers that read with ``mask=False``), and so does every
other free-text value on its way in (districts, places, keywords, labels, sources, complaint
ids); a place column that held personal data (a phone number typed into the district column)
is stored as unknown. Callers' ids are stored as a keyed hash (HMAC-SHA256 with a
per-installation secret kept outside the database, see :mod:`events.identity`), never the
phone number.

Writers are serialised: :meth:`EventStore.writer_lock` (an advisory lock file next to a SQLite
database, ``pg_advisory_lock`` on PostgreSQL) is held for a whole ``hotline events`` run and
while a new store is created, so two runs on one store give what running them one after the
other gives.
"""

from events.store.core import EventStore, resolve_url
from events.store.errors import StoreError, StoreLockError, StoreSchemaError
from events.store.meta import caller_key
from events.store.schema import ALERT_COLUMNS, ALERT_KINDS, SCHEMA_VERSION, SIGNAL_COLUMNS
from events.store.values import UNKNOWN_DISTRICT, clean_place, is_place_value

__all__ = [
    "ALERT_COLUMNS",
    "ALERT_KINDS",
    "SCHEMA_VERSION",
    "SIGNAL_COLUMNS",
    "UNKNOWN_DISTRICT",
    "EventStore",
    "StoreError",
    "StoreLockError",
    "StoreSchemaError",
    "caller_key",
    "clean_place",
    "is_place_value",
    "resolve_url",
]
