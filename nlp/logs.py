"""Logging set-up shared by the CLI and the HTTP service.

Library code only calls ``logging.getLogger(__name__)``. The entry points call
:func:`configure_logging`, which installs :class:`PIIMaskingFilter` on every handler so that a
phone number that slips into a message (an exception that quotes a row, say) is masked before
it is written anywhere.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone
from typing import Any

from common.jsonsafe import dumps, json_safe
from nlp.pii import mask_pii


class PIIMaskingFilter(logging.Filter):
    """Masks personal data in the rendered message and in string arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_pii(record.msg)
        if record.args:
            if isinstance(record.args, dict):
                record.args = {k: mask_pii(v) if isinstance(v, str) else v for k, v in record.args.items()}
            else:
                record.args = tuple(mask_pii(a) if isinstance(a, str) else a for a in record.args)
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    _RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_pii(record.getMessage()),
        }
        extra: dict[str, Any] = {
            key: value
            for key, value in vars(record).items()
            if key not in self._RESERVED and not key.startswith("_")
        }
        if record.exc_info:
            extra["exc_info"] = self.formatException(record.exc_info)
        # JSON values first (an object in an extra field becomes its text), then every string is
        # masked, also inside lists and dicts: personal data never reaches the log line.
        payload.update(_masked(json_safe(extra)))
        return dumps(payload, indent=None)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, dict):
        return {_masked(k): _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def configure_logging(level: str | int = "INFO", *, json_lines: bool = False) -> None:
    """Route logs to stderr (plain or JSON lines) with PII masking on every handler."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    handler.addFilter(PIIMaskingFilter())
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    # jieba announces its dictionary loading at DEBUG through its own handler.
    logging.getLogger("jieba").setLevel(logging.WARNING)
