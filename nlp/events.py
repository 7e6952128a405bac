"""Event extraction: one complaint text -> where, when, how urgent, what about.

:func:`extract_event` runs the extractors of :mod:`nlp.places`, :mod:`nlp.timeexpr` and
:mod:`nlp.urgency` and picks keywords with jieba (:mod:`nlp.segment`) on one canonical record
(``id``, ``title``, ``text``, ``time``, ``district``, ``label`` as produced by
:mod:`ingest`). :meth:`EventExtractor.extract_frame` does the same for a DataFrame, segmenting
each text once and learning keyword document frequencies on the batch itself.
:func:`events_for_texts` is the helper the HTTP classify endpoint calls to add event fields to
its responses.

The text must already be PII-masked (``ingest`` masks by default); nothing here logs text.
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from nlp.pii import mask_pii
from nlp.places.extract import LocationExtractor, LocationInfo
from nlp.places.gazetteer import Gazetteer, load_gazetteer
from nlp.segment import segment
from nlp.text import join_title_text
from nlp.timeexpr import TimeInfo, extract_times
from nlp.urgency import Urgency, assess_urgency

logger = logging.getLogger(__name__)

# Columns added by EventExtractor.extract_frame (one row per complaint, same index).
EVENT_COLUMNS = (
    "location_key", "anchor", "anchor_level", "city", "loc_district", "street", "community", "road",
    "landmark", "places", "time_mentions", "event_start", "event_end", "recurring", "urgency",
    "urgency_score", "urgency_triggers", "keywords", "terms",
)  # fmt: skip


TERMS_MAX_CHARS = 1500


@dataclass
class EventInfo:
    """Structured event fields of one complaint."""

    id: str
    time: datetime | None
    location: LocationInfo
    times: TimeInfo
    urgency: Urgency
    keywords: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)  # content words without place names (grouping)
    category: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the shape used by the HTTP API)."""
        return {
            "id": self.id,
            "location": self.location.to_dict(),
            "time_mentions": [m.to_dict() for m in self.times.mentions],
            "event_start": _iso(self.times.start),
            "event_end": _iso(self.times.end),
            "recurring": self.times.recurring,
            "urgency": self.urgency.level,
            "urgency_score": self.urgency.score,
            "urgency_triggers": self.urgency.triggers,
            "hazards": self.urgency.hazards,
            "keywords": self.keywords,
        }

    def to_row(self) -> dict[str, Any]:
        """Flat columns (:data:`EVENT_COLUMNS`) for a DataFrame or the event store."""
        loc = self.location
        return {
            "location_key": loc.key,
            "anchor": loc.anchor,
            "anchor_level": loc.anchor_level,
            "city": loc.city,
            "loc_district": loc.district,
            "street": loc.street,
            "community": loc.community,
            "road": loc.road,
            "landmark": loc.landmark,
            "places": list(loc.places),
            "time_mentions": [m.to_dict() for m in self.times.mentions],
            "event_start": self.times.start,
            "event_end": self.times.end,
            "recurring": self.times.recurring,
            "urgency": self.urgency.level,
            "urgency_score": self.urgency.score,
            "urgency_triggers": self.urgency.triggers,
            "keywords": self.keywords,
            "terms": self.terms,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="minutes") if value is not None else None


def _as_datetime(value: Any) -> datetime | None:
    # An empty time cell reaches here as NaT (a datetime subclass, so the isinstance test below
    # would pass it on) or NaN; both mean "no timestamp".
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.to_pydatetime()
    if isinstance(value, datetime):
        return value
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    return None if pd.isna(ts) else ts.to_pydatetime()


def _str(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


class EventExtractor:
    """Extracts :class:`EventInfo` from complaint records.

    ``gazetteer`` is a :class:`~nlp.places.gazetteer.Gazetteer`, a path, ``"default"`` (China's
    administrative divisions), ``"demo"`` (the sample city's ``data/gazetteer.json``) or
    ``None``/``"none"`` for patterns only. ``top_k`` keywords are
    kept per complaint.
    """

    def __init__(
        self,
        gazetteer: Gazetteer | str | os.PathLike[str] | None = "default",
        *,
        top_k: int = 5,
        userdict: str | None = None,
    ) -> None:
        if top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {top_k}")
        g = gazetteer if isinstance(gazetteer, Gazetteer) else load_gazetteer(gazetteer)
        self.locations = LocationExtractor(g, userdict=userdict)
        self.top_k = top_k
        self.userdict = userdict
        # Document frequencies for keyword weights; extract_frame learns them on its batch.
        self.doc_freq: Counter[str] = Counter()
        self.n_docs = 0

    # -- pieces ---------------------------------------------------------------------------------

    def _terms(self, joined: str, loc: LocationInfo) -> list[str]:
        # Place names out before segmenting: two complaints about one compound should not look
        # alike just because both name it (the grouping compares places separately). Only the
        # first TERMS_MAX_CHARS characters: the gist of a complaint comes first, and jieba is
        # most of the cost of this step (a few long petitions run to 7,000 characters).
        stripped = joined[:TERMS_MAX_CHARS]
        names = {*loc.places, loc.community, loc.road, loc.landmark, loc.street, loc.district, loc.city}
        for name in sorted((n for n in names if n), key=len, reverse=True):
            stripped = stripped.replace(name, " ")
        return segment(stripped, content_only=True, userdict=self.userdict)

    def _keywords(self, terms: Sequence[str]) -> list[str]:
        if not terms or not self.top_k:
            return []
        tf = Counter(terms)
        n = max(self.n_docs, 1)
        scored = sorted(
            (
                (w, (c / len(terms)) * (math.log((1 + n) / (1 + self.doc_freq.get(w, 0))) + 1.0))
                for w, c in tf.items()
            ),
            key=lambda p: (-p[1], p[0]),
        )
        return [w for w, _ in scored[: self.top_k]]

    def fit(self, term_lists: Iterable[Sequence[str]]) -> EventExtractor:
        """Learn keyword document frequencies from already segmented texts."""
        for terms in term_lists:
            self.doc_freq.update(set(terms))
            self.n_docs += 1
        return self

    # -- one record -----------------------------------------------------------------------------

    def _base(self, record: Mapping[str, Any]) -> tuple[EventInfo, str]:
        title = _str(record.get("title"))
        text = _str(record.get("text"))
        when = _as_datetime(record.get("time"))
        loc = self.locations.extract(text, title, district_hint=_str(record.get("district")))
        joined = join_title_text(title, text)
        times = extract_times(joined, when)
        info = EventInfo(
            id=_str(record.get("id")),
            time=when,
            location=loc,
            times=times,
            urgency=Urgency(),
            category=_str(record.get("category") or record.get("label")),
        )
        info.terms = self._terms(joined, loc)
        return info, joined

    def extract(self, record: Mapping[str, Any], scores: Mapping[str, float] | None = None) -> EventInfo:
        """Event fields of one canonical record (a dict or a DataFrame row).

        ``scores`` are the classifier's label probabilities, if any (see :mod:`nlp.urgency`).
        """
        info, joined = self._base(record)
        info.urgency = assess_urgency(joined, scores)
        info.keywords = self._keywords(info.terms)
        return info

    # -- a batch --------------------------------------------------------------------------------

    def extract_frame(
        self,
        records: pd.DataFrame,
        scores: Sequence[Mapping[str, float] | None] | None = None,
        *,
        progress: bool = True,
    ) -> pd.DataFrame:
        """:data:`EVENT_COLUMNS` for each row of a canonical DataFrame (same index).

        Keyword document frequencies are learned on this batch (added to what :meth:`fit` saw),
        so a word that every complaint of the batch uses does not become everyone's keyword.
        """
        from tqdm.auto import tqdm

        if scores is not None and len(scores) != len(records):
            raise ValueError(f"scores has {len(scores)} entries for {len(records)} records")
        infos: list[EventInfo] = []
        joined_texts: list[str] = []
        rows = records.to_dict(orient="records")
        for rec in tqdm(rows, desc="events", unit="row", disable=None if progress else True):
            info, joined = self._base(rec)
            infos.append(info)
            joined_texts.append(joined)
        self.fit(info.terms for info in infos)
        out = []
        for i, (info, joined) in enumerate(zip(infos, joined_texts, strict=True)):
            info.urgency = assess_urgency(joined, scores[i] if scores is not None else None)
            info.keywords = self._keywords(info.terms)
            out.append(info.to_row())
        frame = pd.DataFrame(out, index=records.index, columns=list(EVENT_COLUMNS))
        return frame


def extract_event(
    record: Mapping[str, Any],
    *,
    extractor: EventExtractor | None = None,
    scores: Mapping[str, float] | None = None,
) -> EventInfo:
    """Event fields of one canonical record (``id``, ``title``, ``text``, ``time``, ``district``).

    >>> info = extract_event({"id": "1", "text": "A5区魅力之城小区昨晚有很浓的煤气味",
    ...                       "time": "2019-08-01 09:00"}, extractor=EventExtractor("none"))
    >>> info.location.key, info.urgency.level, info.times.start.isoformat()
    ('A5区|魅力之城', '紧急', '2019-07-31T19:00:00')
    """
    return (extractor or _default_extractor()).extract(record, scores)


def extract_events(
    records: pd.DataFrame,
    *,
    gazetteer: Gazetteer | str | os.PathLike[str] | None = "default",
    top_k: int = 5,
    scores: Sequence[Mapping[str, float] | None] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Batch version of :func:`extract_event`: the records with :data:`EVENT_COLUMNS` appended."""
    extractor = EventExtractor(gazetteer, top_k=top_k)
    events = extractor.extract_frame(records, scores, progress=progress)
    return pd.concat([records, events], axis=1)


_DEFAULT: EventExtractor | None = None


def _default_extractor() -> EventExtractor:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = EventExtractor("default")
    return _DEFAULT


def events_for_texts(
    texts: Sequence[str],
    *,
    times: Sequence[Any] | None = None,
    districts: Sequence[str] | None = None,
    scores: Sequence[Mapping[str, float] | None] | None = None,
    extractor: EventExtractor | None = None,
) -> list[dict[str, Any]]:
    """Event fields for the ``/v1/classify`` response, one dict per input text.

    ``texts`` are the request texts (masked here again, so raw input is safe to pass);
    ``times`` the complaint timestamps (anything ``pd.Timestamp`` parses, or ``None``) that
    relative mentions (昨晚, 上周五) resolve against; ``districts`` optional district hints;
    ``scores`` the classifier's label -> probability dict for each text, which the urgency
    combines with its rules. Each dict has ``location`` (city, district, street, community,
    road, landmark, key, anchor, ...), ``time_mentions``, ``event_start``, ``event_end``,
    ``recurring``, ``urgency``, ``urgency_score``, ``urgency_triggers``, ``hazards`` and
    ``keywords`` - all JSON-serialisable.
    """
    n = len(texts)
    for name, seq in (("times", times), ("districts", districts), ("scores", scores)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"{name} has {len(seq)} entries for {n} texts")
    ex = extractor or _default_extractor()
    out = []
    for i, text in enumerate(texts):
        record = {
            "id": str(i),
            "text": mask_pii(text or ""),
            "time": times[i] if times is not None else None,
            "district": districts[i] if districts is not None else "",
        }
        info = ex.extract(record, scores[i] if scores is not None else None)
        d = info.to_dict()
        d.pop("id")
        out.append(d)
    return out
