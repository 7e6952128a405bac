"""User-facing errors.

Everything a user can fix (a wrong column name, a missing model, a malformed file) raises a
subclass of :class:`HotlineError`. The CLI prints the message without a traceback and the HTTP
service turns it into its error envelope, so messages must stand on their own: which file, row
and column, what was expected, and the command that fixes it where there is one.
"""

from __future__ import annotations


class HotlineError(Exception):
    """Base class for errors whose message is meant for the user."""

    error_type = "hotline_error"


class InputFileError(HotlineError):
    """A complaint log (or another input file) cannot be read as asked."""

    error_type = "input_file_error"

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        where = []
        if path is not None:
            where.append(str(path))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)
        self.path = path
        self.row = row
        self.column = column


class ColumnNotFoundError(InputFileError):
    error_type = "column_not_found"


class ModelNotFoundError(HotlineError):
    """A model directory or hub name could not be resolved (offline, or wrong path)."""

    error_type = "model_not_found"


class ConfigError(HotlineError, ValueError):
    """A job configuration is invalid."""

    error_type = "config_error"
