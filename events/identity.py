"""Caller identity: a keyed hash of a caller id / phone number, so distinct callers can be
counted without the store ever holding (or revealing) the number.

The key is ``k1:`` + the first 24 hex digits of HMAC-SHA256(secret, caller id). The secret is
per installation and lives outside the database, so a copy of the store alone cannot be
reversed: an unkeyed or constant-salt hash of a mobile number can be, by trying all ~10^10
numbers (a few core-hours).

Where the secret comes from, first match wins:

1. ``HOTLINE_CALLER_SECRET`` - the secret itself (at least 16 characters), e.g. from a secrets
   manager; nothing is written to disk;
2. the file ``HOTLINE_CALLER_SECRET_FILE``, else ``$XDG_CONFIG_HOME/hotline/caller_secret``
   (``~/.config/hotline/caller_secret``): read if it exists, otherwise created on first use
   with 32 random bytes (:func:`secrets.token_bytes`), permissions 0600.

Keys made before this scheme (``sha256("hotline:" + id)[:16]``, 16 bare hex digits) are
*legacy*: they cannot be re-keyed without the raw ids, and the two formats can never be equal,
so a legacy and a new key are always two different callers (see docs/events.md, rotation).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any

from common.errors import HotlineError

logger = logging.getLogger(__name__)

SECRET_ENV = "HOTLINE_CALLER_SECRET"
SECRET_FILE_ENV = "HOTLINE_CALLER_SECRET_FILE"
KEY_PREFIX = "k1:"
KEY_HEX_DIGITS = 24
SCHEME = "hmac-sha256-v1"
MIN_SECRET_BYTES = 16

_RE_KEY = re.compile(r"^k1:[0-9a-f]{24}$")
_RE_LEGACY_KEY = re.compile(r"^[0-9a-f]{16}$")


class CallerSecretError(HotlineError):
    """The caller-hashing secret cannot be read or created."""

    error_type = "caller_secret_error"


def default_secret_path() -> Path:
    """Where the secret file lives unless ``HOTLINE_CALLER_SECRET_FILE`` says otherwise."""
    configured = os.environ.get(SECRET_FILE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME", "").strip()
    root = Path(base).expanduser() if base else Path.home() / ".config"
    return root / "hotline" / "caller_secret"


def load_secret(path: str | os.PathLike[str] | None = None, *, create: bool = True) -> bytes:
    """The installation's caller secret (see the module docstring for where it comes from)."""
    if path is None:
        env = os.environ.get(SECRET_ENV)
        if env is not None and env.strip():
            value = env.strip().encode()
            if len(value) < MIN_SECRET_BYTES:
                raise CallerSecretError(
                    f"{SECRET_ENV} is too short ({len(value)} characters); use at least "
                    f"{MIN_SECRET_BYTES}, e.g. python -c 'import secrets; print(secrets.token_hex(32))'"
                )
            return value
    p = Path(path).expanduser() if path is not None else default_secret_path()
    if not p.exists():
        if not create:
            raise CallerSecretError(f"caller secret file {p} does not exist")
        _create_secret(p)
    try:
        mode = stat.S_IMODE(p.stat().st_mode)
        value = p.read_bytes()
    except OSError as exc:
        raise CallerSecretError(
            f"cannot read the caller secret {p}: {exc.strerror}; set {SECRET_FILE_ENV} to a readable "
            f"file or {SECRET_ENV} to the secret"
        ) from exc
    if os.name == "posix" and mode & 0o077:
        logger.warning("caller secret %s is readable by other users (mode %o); run chmod 600 on it", p, mode)
    if len(value) < MIN_SECRET_BYTES:
        raise CallerSecretError(
            f"caller secret {p} holds only {len(value)} bytes (at least {MIN_SECRET_BYTES} needed); "
            "restore it from a backup, or delete it to start a new secret (callers hashed before will "
            "then count as different people - see docs/events.md)"
        )
    return value


def _create_secret(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Written under a temporary name and linked into place: another process starting at the
        # same moment sees either no file or the whole secret, never a half-written one, and
        # exactly one secret wins.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(32))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
            logger.info("created a new caller secret %s (keep it: callers are hashed with it)", path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise CallerSecretError(
            f"cannot create the caller secret {path}: {exc.strerror}; set {SECRET_FILE_ENV} to a "
            f"writable location or {SECRET_ENV} to the secret"
        ) from exc


def secret_fingerprint(secret: bytes) -> str:
    """A short public id of a secret (stored with the store to notice a changed secret)."""
    return hmac.new(secret, b"hotline caller secret fingerprint", hashlib.sha256).hexdigest()[:12]


def caller_key(value: Any, secret: bytes) -> str | None:
    """Keyed hash of a caller id / phone number (``None`` for an empty value)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    s = str(value).strip()
    if not s or s.lower() in ("nan", "none"):
        return None
    digest = hmac.new(secret, s.encode(), hashlib.sha256).hexdigest()
    return KEY_PREFIX + digest[:KEY_HEX_DIGITS]


def is_caller_key(value: Any) -> bool:
    """True for a key made by :func:`caller_key`."""
    return isinstance(value, str) and bool(_RE_KEY.match(value))


def is_legacy_caller_key(value: Any) -> bool:
    """True for a key of the old constant-salt scheme (16 hex digits)."""
    return isinstance(value, str) and bool(_RE_LEGACY_KEY.match(value))


def keyed_token(value: str, secret: bytes, length: int = 12) -> str:
    """A short keyed token of ``value`` in the letters a-p only (no digit run a PII pattern
    could mistake for a number)."""
    digest = hmac.new(secret, b"id:" + value.encode(), hashlib.sha256).hexdigest()[:length]
    return "".join(chr(ord("a") + int(c, 16)) for c in digest)
