"""The store's writer lock: one writing hotline process at a time.

``hotline events`` holds it for a whole run, and a new store is created under it, so two runs
on one store give what running them one after the other gives. SQLite: an advisory lock
(``flock``) on ``<database>.lock`` next to the database file; PostgreSQL: ``pg_advisory_lock``
on a session of its own; an in-memory database needs none.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa

from events.store.errors import StoreLockError

logger = logging.getLogger(__name__)

# How long a writer waits for another one to finish (a full events run can take minutes).
LOCK_TIMEOUT_S = float(os.environ.get("HOTLINE_STORE_LOCK_TIMEOUT", "3600"))
# PostgreSQL advisory lock key: a constant 63-bit number of our own.
_PG_LOCK_KEY = int(hashlib.sha256(b"hotline event store writer").hexdigest()[:15], 16)


class WriterLock:
    """The writer lock of one store object (re-entrant within it)."""

    def __init__(self, engine: sa.Engine, label: str, sqlite_path: str | None, timeout: float | None) -> None:
        self.engine = engine
        self.label = label  # the store's URL without its password
        self.sqlite_path = sqlite_path
        self.timeout = LOCK_TIMEOUT_S if timeout is None else float(timeout)
        self._depth = 0

    @contextlib.contextmanager
    def hold(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the lock for the ``with`` block; waits up to ``timeout`` seconds (default
        :attr:`timeout`), then raises :class:`StoreLockError`."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        wait = self.timeout if timeout is None else float(timeout)
        if self.sqlite_path:
            release = self._lock_file(Path(self.sqlite_path + ".lock"), wait)
        elif self.engine.dialect.name == "postgresql":
            release = self._lock_postgres(wait)
        else:
            release = None
        self._depth = 1
        try:
            yield
        finally:
            self._depth = 0
            if release is not None:
                release()

    def _busy(self, waited: float, wait: float, what: str) -> None:
        if waited >= wait:
            raise StoreLockError(
                f"{self.label} is being written by another hotline process ({what}) and it did "
                f"not finish within {wait:.0f} s; wait for it (or raise --lock-timeout / "
                "HOTLINE_STORE_LOCK_TIMEOUT) and run again - nothing was written by this run"
            )
        if waited == 0:
            logger.info("%s: another hotline process is writing; waiting for it", self.label)

    def _lock_file(self, path: Path, wait: float) -> Callable[[], None]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        start = time.monotonic()
        waited = 0.0
        try:
            while not _try_lock_fd(fd):
                self._busy(waited, wait, f"lock file {path}")
                time.sleep(min(0.2, max(wait - waited, 0.01)))
                waited = max(time.monotonic() - start, 1e-6)
        except BaseException:
            os.close(fd)
            raise

        def release() -> None:
            _unlock_fd(fd)
            os.close(fd)

        return release

    def _lock_postgres(self, wait: float) -> Callable[[], None]:
        # A session-level advisory lock lives as long as its connection: keep one aside for it.
        conn = self.engine.connect()
        start = time.monotonic()
        waited = 0.0
        try:
            while not conn.execute(sa.select(sa.func.pg_try_advisory_lock(_PG_LOCK_KEY))).scalar():
                conn.rollback()
                self._busy(waited, wait, "pg_advisory_lock")
                time.sleep(min(0.5, max(wait - waited, 0.01)))
                waited = max(time.monotonic() - start, 1e-6)
            conn.commit()
        except BaseException:
            conn.close()
            raise

        def release() -> None:
            try:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(_PG_LOCK_KEY)))
                conn.commit()
            finally:
                conn.close()

        return release


def _try_lock_fd(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock_fd(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_UN)
