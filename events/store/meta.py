"""The store's own key/value metadata and the caller identity it was written with.

Callers' ids are stored as a keyed hash (HMAC-SHA256 with a per-installation secret kept
outside the database, see :mod:`events.identity`), never the phone number; ``store_meta``
records the key scheme, the secret's fingerprint (a changed secret is noticed and logged) and
how many complaints still carry a legacy constant-salt hash.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import sqlalchemy as sa

from events import identity
from events.store.sql import Repository
from events.store.values import text, utcnow
from nlp.pii import mask_pii

logger = logging.getLogger(__name__)

# store_meta keys
META_CALLER_SCHEME = "caller_key_scheme"
META_LEGACY_CALLERS = "legacy_caller_keys"
META_SECRET_FINGERPRINT = "caller_secret_fingerprint"
META_OLD_FINGERPRINTS = "previous_caller_secret_fingerprints"


def caller_key(value: Any, secret: bytes | None = None) -> str | None:
    """Keyed hash of a caller id / phone number (:func:`events.identity.caller_key`) with
    ``secret``, by default this installation's (:func:`events.identity.load_secret`)."""
    return identity.caller_key(value, identity.load_secret() if secret is None else secret)


class MetaRepository(Repository):
    """Table ``store_meta``: key/value pairs about the store itself."""

    def read(self) -> dict[str, str]:
        """The ``store_meta`` key/value pairs (caller-key scheme, legacy marker, secret fingerprint)."""
        t = self.tables["store_meta"]
        try:
            with self.engine.connect() as conn:
                return {str(k): str(v) for k, v in conn.execute(sa.select(t.c.key, t.c.value)).all()}
        except (sa.exc.OperationalError, sa.exc.ProgrammingError):
            # A store of an older hotline opened read-only (create=False): no store_meta yet.
            return {}

    def write(self, values: dict[str, str]) -> int:
        now = utcnow()
        return self._upsert(
            "store_meta", [{"key": k, "value": v, "updated_at": now} for k, v in values.items()]
        )


class Callers:
    """The caller identity of one store: keyed hashes of callers and of ids holding personal data.

    The secret is loaded on first use (stores without callers never need one) unless given.
    """

    def __init__(
        self,
        meta: MetaRepository,
        label: str,
        *,
        secret: bytes | None = None,
        secret_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.meta = meta
        self.label = label  # the store's URL without its password, for log lines
        self._secret = secret
        self._secret_file = secret_file
        self._secret_checked = False

    @property
    def legacy(self) -> int:
        """How many complaints still carry a legacy (constant-salt) caller hash."""
        return int(self.meta.read().get(META_LEGACY_CALLERS, "0") or 0)

    def secret(self) -> bytes:
        """This installation's caller secret. The first time per store its fingerprint is
        compared with the one the store was written with, and a change is logged (callers would
        no longer match)."""
        if self._secret is None:
            self._secret = identity.load_secret(self._secret_file)
        if not self._secret_checked:
            self._secret_checked = True
            fp = identity.secret_fingerprint(self._secret)
            meta = self.meta.read()
            old = meta.get(META_SECRET_FINGERPRINT)
            if not meta:
                pass  # opened read-only before its migration: nothing to compare or record
            elif old is None:
                self.meta.write({META_SECRET_FINGERPRINT: fp})
            elif old != fp:
                logger.warning(
                    "%s: callers were hashed with another caller secret (fingerprint %s, now %s); the "
                    "same caller before and after the change counts as two people. Expected after a "
                    "rotation; otherwise set HOTLINE_CALLER_SECRET_FILE to the secret this store used "
                    "(docs/events.md, caller identity)",
                    self.label,
                    old,
                    fp,
                )
                history = [h for h in meta.get(META_OLD_FINGERPRINTS, "").split(",") if h]
                self.meta.write(
                    {META_SECRET_FINGERPRINT: fp, META_OLD_FINGERPRINTS: ",".join([*history, old])}
                )
        return self._secret

    def key(self, value: Any) -> str | None:
        """Keyed hash of a caller id with this installation's secret; a key that already is one
        (``k1:`` + 24 hex) is kept."""
        if identity.is_caller_key(value):
            return str(value)
        if value is None or (isinstance(value, float) and math.isnan(value)) or not str(value).strip():
            return None
        return identity.caller_key(value, self.secret())

    def safe_id(self, value: Any) -> str:
        """A complaint id as stored: unchanged unless it holds personal data (a phone number used
        as an id), which is masked and given a keyed suffix so that ids stay distinct and stable."""
        s = text(value).strip()
        masked = mask_pii(s)
        if masked == s:
            return s[:128]
        return f"{masked[:100]}#{identity.keyed_token(s, self.secret())}"

    def mark_legacy(self) -> None:
        """Mark a store written before keyed caller hashes (once): its caller hashes are the old
        constant-salt sha256, which cannot be re-keyed without the raw ids. They stay as they
        are - 16 hex digits, never equal to a ``k1:`` key - and the store says so."""
        if META_CALLER_SCHEME in self.meta.read():
            return
        c = self.meta.tables["complaints"]
        with self.meta.engine.connect() as conn:
            legacy = int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(c)
                    .where(c.c.caller.is_not(None), sa.not_(c.c.caller.like(identity.KEY_PREFIX + "%")))
                ).scalar()
            )
        values = {META_CALLER_SCHEME: identity.SCHEME}
        if legacy:
            values[META_LEGACY_CALLERS] = str(legacy)
            logger.warning(
                "%s: %d complaint(s) carry legacy caller hashes (constant salt, before keyed hashes); "
                "they are kept and marked - a caller seen before and after this upgrade counts as two "
                "people (docs/events.md, caller identity)",
                self.label,
                legacy,
            )
        self.meta.write(values)
