"""Service settings: ``HOTLINE_*`` environment variables (pydantic-settings).

Every field can be set as ``HOTLINE_<FIELD>`` (``HOTLINE_MODEL_DIR=/models/registry``,
``HOTLINE_API_KEYS=key1,key2``, ``HOTLINE_MAX_BATCH_SIZE=32`` ...) or passed to
:class:`Settings` directly (tests, ``hotline serve`` options).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration of one service instance."""

    # `model_` is pydantic's reserved prefix; our `model_dir` is the hotline model, not pydantic's.
    model_config = SettingsConfigDict(env_prefix="HOTLINE_", extra="ignore", protected_namespaces=())

    model_dir: Path | None = Field(None, description="Model directory or registry (its `current` version).")
    store_url: str | None = Field(None, description="Event store URL (events.store.EventStore).")
    forecast_dir: Path | None = Field(None, description="Directory written by `hotline forecast fit`.")
    survival_dir: Path | None = Field(None, description="Directory of the time-to-reply survival model.")
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Bearer keys; empty: no authentication (comma-separated in env)."
    )
    admin_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Bearer keys for /v1/admin/* (separate from api_keys); empty: admin routes disabled.",
    )
    max_batch_size: int = Field(32, ge=1, le=1024, description="Most texts coalesced into one micro-batch.")
    max_wait_ms: float = Field(5.0, ge=0, le=1000, description="How long a batch waits for more requests.")
    max_queue: int = Field(4096, ge=1, description="Texts waiting for the model before requests get 503.")
    max_texts_per_request: int = Field(64, ge=1, description="More texts in one request: 413.")
    max_body_bytes: int = Field(2_000_000, ge=1024, description="Larger request bodies: 413.")
    max_text_chars: int = Field(20_000, ge=16, description="Longer texts are cut head + tail and flagged.")
    # A CPU forward pass over more than ~2k padded tokens runs out of cache (attention scores
    # grow with batch x length^2): measured slower per text than smaller passes.
    max_batch_tokens: int = Field(2048, ge=64, description="Padded tokens per forward pass (engine buckets).")
    max_padding: float = Field(
        0.2,
        ge=0,
        description="Padding allowed in a forward pass, as a share of its real tokens; a micro-batch "
        "of mixed lengths is split into passes of similar length (raise it on a GPU).",
    )
    num_threads: int | None = Field(
        None, ge=1, description="CPU threads for inference (torch / ONNX Runtime)."
    )
    top_k: int = Field(3, ge=1, le=50, description="Labels returned with their probabilities.")
    event_fields: bool = Field(
        True, description="Add location/urgency/time/keyword fields when nlp.events exists."
    )
    gazetteer: str = Field(
        "default",
        max_length=4096,
        description="Places for the event fields: 'default' (China's administrative divisions), "
        "'demo' (the sample city), 'none' (patterns only) or a gazetteer JSON "
        "(`hotline gazetteer build`). Read once at start-up from the server's own configuration.",
    )
    dashboard_warmup: bool = Field(
        True,
        description="At start-up, compute the dashboard's default views in a background thread so "
        "the first page is fast (tens of seconds of CPU on a large store).",
    )
    log_json: bool = Field(True, description="JSON-lines logs (set up by `hotline serve`).")
    log_level: str = Field("INFO", description="Root log level.")

    @field_validator("api_keys", "admin_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_level(cls, value: Any) -> Any:
        import logging

        if isinstance(value, int):
            return logging.getLevelName(value)
        name = str(value).strip().upper()
        if not isinstance(logging.getLevelName(name), int):
            raise ValueError(f"unknown log level {value!r}; use DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return name

    @field_validator("num_threads", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value in ("", "0", 0) else value
