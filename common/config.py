"""The base of every job configuration.

A job (train, classify, events, forecast fit, ...) takes one typed config: a pydantic model whose
fields carry their type, default and a description, validated on construction and saved as JSON
next to the job's output so that a result can always be traced to the settings that made it.
Whatever is wrong with a config - an unknown field, a value of the wrong type, a failed check -
raises :class:`common.errors.ConfigError` with every problem named by field, never a pydantic
``ValidationError`` or a bare ``ValueError``.

Messages name configuration fields, not CLI flags: the CLI maps a field to its flag when it
reports the error, so the library stays usable from Python and HTTP alike.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from common.errors import ConfigError
from common.files import atomic_write_json

C = TypeVar("C", bound="JobConfig")


class JobConfig(BaseModel):
    """Validated, serialisable job settings (unknown fields are an error, not ignored)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise config_error(type(self).__name__, exc) from None

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise config_error(type(self).__name__, exc) from None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (tuples as lists, paths as text)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
        return cls(**data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls: type[C], path: str | os.PathLike[str]) -> C:
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{p}: configuration file not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: not a JSON configuration ({exc})") from None
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{p}: {exc}") from None

    def replace(self: C, **changes: Any) -> C:
        """A validated copy with ``changes`` applied (``model_copy`` does not validate)."""
        return type(self)(**{**self.model_dump(), **changes})


def config_error(name: str, exc: ValidationError) -> ConfigError:
    """One readable ConfigError naming every invalid field of a pydantic ValidationError."""
    problems = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err.get("loc", ())) or "(config)"
        msg = err.get("msg", "invalid value")
        if err.get("type") == "extra_forbidden":
            msg = "unknown field"
        # a check raised ConfigError/ValueError inside a validator: pydantic prefixes "Value error, "
        msg = msg.removeprefix("Value error, ")
        problems.append(f"{field}: {msg}")
    return ConfigError(f"invalid {name}: " + "; ".join(problems))
