"""What the event store raises: user-facing errors (:class:`common.errors.HotlineError`)."""

from __future__ import annotations

from common.errors import HotlineError


class StoreError(HotlineError):
    """The event store cannot be opened or written as asked."""

    error_type = "store_error"


class StoreSchemaError(StoreError):
    error_type = "store_schema_mismatch"


class StoreLockError(StoreError):
    """Another writer held the store for longer than we were willing to wait."""

    error_type = "store_locked"
