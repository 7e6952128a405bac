"""The configurations of the event step: how complaints are grouped, and one ``hotline events`` run.

Both are :class:`common.config.JobConfig` models: validated on construction, every problem
raised as one :class:`common.errors.ConfigError` naming the fields, saved as JSON (the run
report carries the :class:`EventsConfig` it ran with).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import Field, field_validator, model_validator

from common.config import JobConfig

# Which links count (events.grouping): all of them, or a single one (for the evaluation).
Method = Literal["combined", "minhash", "place", "text", "embedding", "place+minhash"]
METHODS: tuple[str, ...] = get_args(Method)
# A similarity threshold or a share: above 0, at most 1.
Share = Annotated[float, Field(gt=0.0, le=1.0)]
# What a different category adds to a threshold: at least 0, below 1.
Penalty = Annotated[float, Field(ge=0.0, lt=1.0)]
WindowDays = Annotated[
    float, Field(gt=0, description="Longest gap between complaints of one incident, in days.")
]


class GroupingConfig(JobConfig):
    """Thresholds of the same-incident links (see :mod:`events.grouping`)."""

    window_days: WindowDays = 30.0
    method: Method = Field("combined", description="Which links count: combined, or a single one.")
    shingle_size: int = Field(3, ge=1, description="Characters per MinHash shingle.")
    num_perm: int = Field(128, ge=16, description="MinHash permutations.")
    minhash_threshold: Share = Field(
        0.5, description="Near-duplicate link: estimated Jaccard of character shingles."
    )
    place_threshold: Share = Field(
        0.12, description="Place link: TF-IDF cosine of the problem words at one fine place."
    )
    coarse_place_threshold: Share = Field(
        0.2, description="Place link when the shared place is only a road or a street."
    )
    text_threshold: Share = Field(0.6, description="Text link without a shared place: TF-IDF cosine.")
    category_penalty: Penalty = Field(
        0.03, description="Added to the text thresholds when two categories differ."
    )
    embedding_category_penalty: Penalty = Field(
        0.01, description="Added to the embedding thresholds when two categories differ."
    )
    caller_style_min: int = Field(
        20, ge=2, description="Complaints in a batch that make a caller prolific (their habits are dropped)."
    )
    caller_style_share: Share = Field(
        0.3, description="Share of a prolific caller's complaints that makes a word a habit."
    )
    same_caller_threshold: Share = Field(
        0.25, description="Place link between two complaints of one prolific caller."
    )
    repost_minhash: Share = Field(
        0.8, description="Near-duplicate of one prolific caller that counts as a re-post."
    )
    embedding_threshold: Share = Field(0.94, description="Embedding link: cosine of sentence embeddings.")
    embedding_place_threshold: Share = Field(
        0.92, description="Embedding link for complaints at the same place."
    )
    seed: int = Field(1, description="MinHash seed (the same seed gives the same groups).")


class EventsConfig(JobConfig):
    """Options of one ``hotline events`` run (saved in the run report)."""

    window_days: WindowDays = 30.0
    gazetteer: str | None = Field(
        "default",
        description="Gazetteer JSON path, 'default' (China's administrative divisions + patterns), "
        "'demo' (the sample city) or 'none' (patterns only).",
    )
    top_k: int = Field(5, ge=0, description="Keywords per complaint.")
    method: Method = Field("combined", description="Grouping links: combined, or a single one.")
    model_dir: str | None = Field(
        None, description="Classifier for complaints with neither a stored prediction nor a label."
    )
    embed_model: str | None = Field(None, description="Converted base model directory for embedding links.")
    regroup: bool = Field(
        False, description="Forget stored incidents and group every stored complaint again."
    )
    caller_column: str | None = Field(None, description="Column with the caller id (stored as a keyed hash).")
    likes_column: str | None = Field(None, description="Column with likes / support votes.")
    progress: bool = Field(True, description="Show a progress bar.")

    @field_validator("model_dir", "embed_model")
    @classmethod
    def _directory_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).exists():
            raise ValueError(f"{value}: no such directory")
        return value

    @model_validator(mode="after")
    def _embedding_needs_a_model(self) -> EventsConfig:
        if self.method == "embedding" and not self.embed_model:
            raise ValueError("method 'embedding' needs embed_model (the converted base model directory)")
        return self

    def grouping(self) -> GroupingConfig:
        return GroupingConfig(window_days=self.window_days, method=self.method)
