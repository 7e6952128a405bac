"""Request and response bodies of the classification API (they make the OpenAPI docs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Complaint(BaseModel):
    """One complaint as a hotline system sends it."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "id": "20261124-0001",
                    "title": "小区门口道路破损",
                    "text": "A3区联丰路小区门口道路破损严重，下雨天积水，希望尽快维修。",
                    "time": "2026-11-24 09:30:00",
                    "district": "A3区",
                }
            ]
        },
    )

    id: str | None = Field(None, max_length=200, description="Ticket id, echoed back.")
    title: str | None = Field(None, description="Title/subject; joined to the text as the model was trained.")
    text: str = Field(..., description="The complaint. Over-long texts are cut head + tail and flagged.")
    time: str | None = Field(None, description="When the call/message came in (echoed to event fields).")
    district: str | None = Field(None, max_length=200)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty; send the complaint's content")
        return value


class LabelScore(BaseModel):
    label: str
    score: float


class ClassifyResult(BaseModel):
    """The classification of one complaint."""

    id: str | None = None
    label: str
    score: float = Field(..., description="Calibrated probability of `label`.")
    top_k: list[LabelScore]
    needs_review: bool = Field(..., description="Below its class's confidence threshold: route to a person.")
    truncated: bool = Field(..., description="The text was cut (head + tail) to fit the model's input.")
    model_version: str
    events: dict[str, Any] | None = Field(None, description="Location, urgency, time mentions, keywords.")


class ModelSummary(BaseModel):
    name: str | None
    version: str
    model_type: str
    labels: list[str]
    max_length: int


class InfoResponse(BaseModel):
    model: ModelSummary | None
    ready: bool
    max_batch_size: int
    max_wait_ms: float
    max_texts_per_request: int
    max_body_bytes: int
    max_text_chars: int
    top_k: int
    auth: bool
    service_version: str


class ReloadRequest(BaseModel):
    # A version name, never a path: reload only ever reads the configured model directory.
    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(
        None,
        description="Version in the configured registry (e.g. `v3`); default: the registry's `current` "
        "(or the configured model directory itself).",
    )


class ReloadResponse(BaseModel):
    previous_version: str | None
    model_version: str
    load_seconds: float


class ErrorResponse(BaseModel):
    error: str
    error_type: str
