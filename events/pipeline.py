"""The event step end to end: read a complaint log, extract events, group, store, signals.

:func:`run_events` is what ``hotline events`` runs. For each chunk of the log (``ingest``):

1. **category** of each complaint (:mod:`events.categories`): the latest prediction already
   in the store for its id (``hotline classify --store`` writes those), else the log's label
   column, else - with ``model_dir`` - the classifier's prediction (also written to the
   store), else none;
2. **extraction** (:mod:`nlp.events`): location, time mentions, urgency, keywords;
3. **store** the masked complaints and their event fields (idempotent upserts);
4. **grouping** (:mod:`events.grouping`) of the complaints that have no incident yet, against
   the incidents still open in the store; then the touched incidents' summaries and heat
   (:mod:`events.hot`) are recomputed from their members.

At the end the daily signals are recomputed from the whole store (:mod:`events.signals`).
The whole run holds the store's writer lock (:meth:`events.store.EventStore.writer_lock`): a
second run on the same store waits for this one, so concurrent runs group as sequential ones.
Running the same log twice changes nothing: complaints and events are upserted, complaints
that already belong to an incident keep it, and summaries and signals are recomputed from the
stored rows rather than incremented.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import HotlineError
from common.files import atomic_write_json
from events.categories import ModelCategories, categories
from events.config import EventsConfig
from events.grouping import IncidentGrouper
from events.hot import summarize_incidents
from events.signals import refresh_signals
from events.store import EventStore, clean_place
from events.store.complaints import content_hash
from ingest.options import ReaderOptions
from ingest.readers import ComplaintReader, count_rows
from ingest.rejects import RejectsWriter
from nlp.places.gazetteer import Gazetteer
from nlp.places.learn import gazetteer_coverage
from nlp.places.normalize import normalize_district

logger = logging.getLogger(__name__)

# Source headers that hold a caller id / phone number, and likes (support votes), most specific first.
CALLER_CANDIDATES = (
    "caller", "caller_id", "user", "userid", "user_id", "来电人", "来电人编号", "来电号码", "留言用户", "留言人",
    "用户", "用户名", "联系电话", "反映人",
)  # fmt: skip
LIKES_CANDIDATES = ("likes", "like_count", "点赞数", "点赞", "支持数", "赞同数")
# Stored complaints whose words the TF-IDF weights are learned on together with a batch.
REFERENCE_TERMS = 5000
# Incidents whose last complaint is this close to the newest one get their growth/heat refreshed.
HEAT_REFRESH_DAYS = 14


@dataclass
class EventsReport:
    input: str
    store: str
    rows_read: int = 0
    rows_rejected: int = 0
    complaints: int = 0
    grouped: int = 0
    already_grouped: int = 0
    unchanged: int = 0
    new_incidents: int = 0
    joined_existing: int = 0
    category_sources: dict[str, int] = field(default_factory=dict)
    urgency: dict[str, int] = field(default_factory=dict)
    with_location: int = 0
    store_counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        total = sum(self.seconds.values())
        rate = self.complaints / total if total else 0.0
        lines = [
            f"input:      {self.input}",
            f"store:      {self.store}",
            f"rows:       {self.rows_read} read, {self.rows_rejected} rejected, {self.complaints} processed, "
            f"{self.unchanged} unchanged since the last run",
            "category:   " + (", ".join(f"{k} {v}" for k, v in sorted(self.category_sources.items())) or "-"),
            f"location:   {self.with_location} of {self.complaints} with a place below district level",
            "urgency:    " + ", ".join(f"{k} {v}" for k, v in sorted(self.urgency.items())),
            f"grouping:   {self.grouped} grouped ({self.already_grouped} were already), "
            f"{self.new_incidents} new incidents, {self.joined_existing} joined existing ones",
            "store now:  "
            + ", ".join(
                f"{k} {self.store_counts.get(k, 0)}"
                for k in ("complaints", "incidents", "incident_members", "predictions", "signals")
            ),
            "time:       "
            + ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())
            + f" ({rate:.0f} complaints/s)",
        ]
        return "\n".join(lines)


def _header_key(name: object) -> str:
    # As ingest matches headers: case, spaces, underscores, dashes and a BOM do not matter.
    return re.sub(r"[\s_\-]", "", str(name).replace("\ufeff", "")).lower()


def _find_column(
    headers: list[str], explicit: str | None, candidates: tuple[str, ...], field: str
) -> str | None:
    if explicit:
        for h in headers:
            if h == explicit or _header_key(h) == _header_key(explicit):
                return h
        raise HotlineError(
            f"no column named {explicit!r} (given as {field}); the file has: {', '.join(headers)}"
        )
    keys = {_header_key(h): h for h in headers}
    return next((keys[_header_key(c)] for c in candidates if _header_key(c) in keys), None)


def run_events(
    input_path: str | os.PathLike[str],
    store: EventStore | str,
    options: ReaderOptions | None = None,
    config: EventsConfig | None = None,
    *,
    rejects_path: str | os.PathLike[str] | None = None,
) -> EventsReport:
    """Extract, group and store the events of one complaint log (see the module docstring)."""
    cfg = config or EventsConfig()
    opts = options or ReaderOptions()
    st = store if isinstance(store, EventStore) else EventStore(store)
    # One writer at a time for the whole run: a second run waits, then groups against all that
    # this one stored (two runs interleaving would each miss the other's incidents).
    with st.writer_lock():
        return _run_events(input_path, st, opts, cfg, rejects_path=rejects_path)


def _run_events(
    input_path: str | os.PathLike[str],
    st: EventStore,
    opts: ReaderOptions,
    cfg: EventsConfig,
    *,
    rejects_path: str | os.PathLike[str] | None,
) -> EventsReport:
    from tqdm.auto import tqdm

    from nlp.events import EventExtractor

    report = EventsReport(input=str(input_path), store=repr(st), config=cfg.to_dict())
    timings: Counter[str] = Counter()
    extractor = EventExtractor(cfg.gazetteer, top_k=cfg.top_k)
    embed = None
    if cfg.embed_model:
        from events.embeddings import E5Embedder

        embed = E5Embedder(cfg.embed_model)
    grouper = IncidentGrouper(cfg.grouping(), embed=embed)
    model = ModelCategories(cfg.model_dir) if cfg.model_dir else None
    rejects = RejectsWriter(rejects_path)
    reader = ComplaintReader(input_path, opts, rejects=rejects)
    sources: Counter[str] = Counter()
    urgency: Counter[str] = Counter()
    coverage = [0, 0]  # place mentions the gazetteer knows, all place mentions
    total = None
    try:
        total = count_rows(input_path, opts.encoding)
    except HotlineError:
        total = None
    bar = tqdm(total=total, unit="row", desc="events", disable=None if cfg.progress else True)
    try:
        for chunk in reader:
            t0 = time.perf_counter()
            records = chunk.records.copy()
            # What the store will hold, from the start: an id holding personal data is masked
            # (its incident id is derived from it), and a district column that held some (a
            # phone number typed into it) is unknown rather than a place.
            records["id"] = [st.callers.safe_id(v) for v in records["id"]]
            records["district"] = [clean_place(d) for d in records["district"]]
            src = chunk.source
            headers = [str(h) for h in src.columns]
            caller_col = _find_column(headers, cfg.caller_column, CALLER_CANDIDATES, "caller_column")
            likes_col = _find_column(headers, cfg.likes_column, LIKES_CANDIDATES, "likes_column")
            if caller_col is not None and caller_col in reader.mapping.values():
                caller_col = None  # the id or text column is not a caller
            records["caller"] = [st.callers.key(v) for v in src[caller_col]] if caller_col else None
            records["likes"] = (
                pd.to_numeric(src[likes_col], errors="coerce").fillna(0).astype(int).to_numpy()
                if likes_col
                else 0
            )
            records = records.drop_duplicates("id", keep="last")
            cats, scores, preds, category_sources = categories(st, records, model, sources)
            records["category"] = cats
            # Complaints stored before with the same text and category need nothing: a re-run of
            # the same log only reads it (and cannot double count anything).
            keep = _changed(st, records)
            report.unchanged += int((~keep).sum())
            bar.update(int((~keep).sum()))
            if not keep.all():
                records = records[keep]
                scores = [s for s, k in zip(scores, keep, strict=True) if k]
                category_sources = [c for c, k in zip(category_sources, keep, strict=True) if k]
                if preds is not None:
                    preds = preds[preds["id"].isin(set(records["id"]))]
            timings["categories"] += time.perf_counter() - t0
            if records.empty:
                continue

            t0 = time.perf_counter()
            events = extractor.extract_frame(records, scores, progress=False)
            timings["extract"] += time.perf_counter() - t0

            t0 = time.perf_counter()
            district = [
                clean_place(normalize_district(d, extractor.locations.gazetteer)) or clean_place(ld)
                for d, ld in zip(records["district"], events["loc_district"], strict=True)
            ]
            frame = pd.concat([records, events], axis=1)
            frame["district"] = district
            frame["category_source"] = category_sources
            st.complaints.upsert(records, source=Path(input_path).name)
            if preds is not None and len(preds):
                st.complaints.upsert_predictions(preds)
            st.complaints.upsert_events(frame)
            timings["store"] += time.perf_counter() - t0

            urgency.update(events["urgency"])
            known, mentions = gazetteer_coverage(extractor.locations.gazetteer, events["places"])
            coverage[0] += known
            coverage[1] += mentions
            report.with_location += int((events["anchor"] != "").sum())
            report.complaints += len(records)
            if not cfg.regroup:
                t0 = time.perf_counter()
                _group(st, grouper, frame, report, cfg)
                timings["group"] += time.perf_counter() - t0
            bar.update(len(records))
    finally:
        bar.close()
        rejects.close()
    _warn_coverage(extractor.locations.gazetteer, *coverage)
    report.rows_read = reader.rows_read
    report.rows_rejected = reader.rows_rejected
    if reader.rows_rejected:
        logger.warning(
            "%s: %d of %d rows rejected%s",
            input_path,
            reader.rows_rejected,
            reader.rows_read,
            f" (see {rejects.path})" if rejects.path else "",
        )
    t0 = time.perf_counter()
    if cfg.regroup:
        regroup_store(st, grouper, report)
    else:
        _refresh_recent(st)
    timings["group"] += time.perf_counter() - t0
    t0 = time.perf_counter()
    refresh_signals(st)
    timings["signals"] += time.perf_counter() - t0
    report.category_sources = dict(sources)
    report.urgency = dict(urgency)
    report.store_counts = st.counts()
    report.seconds = {k: round(v, 2) for k, v in timings.items()}
    return report


# Below this share of a log's place mentions, a city gazetteer is probably another city's.
COVERAGE_WARN = 0.2
COVERAGE_MIN_MENTIONS = 20


def _warn_coverage(gazetteer: Gazetteer, known: int, mentions: int) -> None:
    if mentions < COVERAGE_MIN_MENTIONS or not gazetteer.fine_names():
        return  # too few mentions to judge, or no city places (the national table, or none)
    if known < COVERAGE_WARN * mentions:
        logger.warning(
            "gazetteer %s knows %d of the log's %d place mentions (%.0f%%): is it this city's? "
            "learn one from the log with 'hotline gazetteer build --from LOG -o gaz.json'",
            gazetteer.path or "(in memory)",
            known,
            mentions,
            100 * known / mentions,
        )


def _changed(st: EventStore, records: pd.DataFrame) -> np.ndarray:
    """Which records are new or differ from what the store holds (text or category)."""
    from nlp.pii import mask_pii

    state = st.complaints.stored_state(records["id"].astype(str).tolist())
    if not state:
        return np.ones(len(records), dtype=bool)
    out = []
    for cid, title, text, category in zip(
        records["id"].astype(str), records["title"], records["text"], records["category"], strict=True
    ):
        old = state.get(cid)
        if old is None or old[1] is None:
            out.append(True)
            continue
        digest = content_hash(mask_pii(str(title or "")), mask_pii(str(text or "")))
        out.append(digest != old[0] or (category or "") != old[1])
    return np.asarray(out, dtype=bool)


def _group(
    st: EventStore, grouper: IncidentGrouper, frame: pd.DataFrame, report: EventsReport, cfg: EventsConfig
) -> None:
    ids = frame["id"].astype(str).tolist()
    assigned = st.incidents.read_members(complaint_ids=ids)
    done = set(assigned["complaint_id"]) if len(assigned) else set()
    report.already_grouped += len(done)
    new = frame[~frame["id"].astype(str).isin(done)]
    if new.empty:
        return
    times = pd.to_datetime(new["time"], errors="coerce")
    since = times.min() - timedelta(days=cfg.window_days) if times.notna().any() else None
    existing = st.incidents.grouping_candidates(since.to_pydatetime() if since is not None else None)
    in_batch = set(new["id"].astype(str)) | set(existing["id"].astype(str))
    grouper.reference_terms = st.complaints.recent_terms(REFERENCE_TERMS, exclude=in_batch)
    assignments = grouper.assign(new, existing)
    st.incidents.upsert_members(assignments)
    report.grouped += len(assignments)
    report.new_incidents += int(assignments.loc[assignments["is_new_incident"], "incident_id"].nunique())
    report.joined_existing += int((~assignments["is_new_incident"]).sum())
    refresh_incidents(st, sorted(set(assignments["incident_id"])))


def refresh_incidents(st: EventStore, incident_ids: list[str]) -> int:
    """Recompute the summaries (counts, callers, heat, keywords ...) of some incidents."""
    if not incident_ids:
        return 0
    as_of = st.complaints.latest_time()
    written = 0
    for start in range(0, len(incident_ids), 2000):
        part = incident_ids[start : start + 2000]
        members = st.incidents.members_detail(part)
        written += st.incidents.upsert(summarize_incidents(members, as_of=as_of))
    return written


def _refresh_recent(st: EventStore) -> None:
    # Growth is measured against the newest complaint in the store, so incidents that this run
    # did not touch can still have moved (their recent week is now further back).
    as_of = st.complaints.latest_time()
    if as_of is None:
        return
    recent = st.incidents.read(since=as_of - timedelta(days=HEAT_REFRESH_DAYS))
    refresh_incidents(st, recent["incident_id"].tolist())


def regroup_store(st: EventStore, grouper: IncidentGrouper, report: EventsReport | None = None) -> int:
    """Forget every incident and group all stored complaints again, as one batch."""
    complaints = st.complaints.read()
    if complaints.empty:
        return 0
    events = st.complaints.read_events().rename(columns={"complaint_id": "id"})
    frame = complaints.drop(columns=["district"]).merge(events, on="id", how="inner")
    st.incidents.clear()
    assignments = grouper.assign(frame)
    st.incidents.upsert_members(assignments)
    refresh_incidents(st, sorted(set(assignments["incident_id"])))
    if report is not None:
        report.grouped += len(assignments)
        report.new_incidents += int(assignments["incident_id"].nunique())
    return len(assignments)


def write_report(report: EventsReport, path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_json(p, report.to_dict())


__all__ = ["EventsReport", "refresh_incidents", "regroup_store", "run_events"]
