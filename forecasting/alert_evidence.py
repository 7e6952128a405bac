"""What an alert is about, from the complaints behind it: its members, keywords and examples,
and whether its excess is one issue repeated (coherence) or a busy day of unrelated posts.

See "One alert per incident" and "Coherence" in :mod:`forecasting.alerts`.
"""

from __future__ import annotations

import logging
import math
import re
import zlib
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from forecasting.alert_detect import surprise_score
from forecasting.alert_records import Alert
from forecasting.config import AlertConfig
from forecasting.signals import parse_series_key
from forecasting.sources import ComplaintReader, IncidentReader, SignalSource

logger = logging.getLogger(__name__)

# Anonymised place codes (A7县, A3区): every complaint of a district carries one, so it is neither
# a keyword of a surge nor a sign that two titles are about one issue.
PLACE_CODE = re.compile(r"[A-Za-z]\d+[区县市镇]?")
# Words of the request type (反映…问题, 关于…的投诉): titles sharing only these are not one issue.
TITLE_BOILERPLATE = re.compile(
    r"关于|反映|咨询|投诉|举报|建议|请求|希望|求助|要求|问题|情况|事宜|市民|网友|的|了|请|[\W_]+"
)


def enrich_alerts(
    incidents_of: IncidentReader,
    complaints_of: ComplaintReader | None,
    alerts: list[Alert],
    config: AlertConfig,
) -> list[Alert]:
    """Attach incidents, representative complaints (masked) and keywords from the store."""
    from nlp.pii import mask_pii

    for a in alerts:
        start = pd.Timestamp(a.first_seen)
        end = pd.Timestamp(a.last_seen) + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
        try:
            if a.kind == "incident":
                incidents = incidents_of.read(ids=a.incident_ids)
            else:
                parts = parse_series_key(a.series_key)
                incidents = incidents_of.read(
                    since=start.to_pydatetime(),
                    until=end.to_pydatetime(),
                    category=parts.get("category"),
                    district=parts.get("district"),
                    limit=config.max_incidents,
                )
        except Exception as exc:  # enrichment is best effort: the alert itself stands
            logger.warning("cannot read incidents for alert %s: %s", a.alert_id, exc)
            continue
        if len(incidents):
            a.incident_ids = [str(i) for i in incidents["incident_id"]][: config.max_incidents]
        texts: list[str] = []
        keywords: Counter[str] = Counter()
        for kws in incidents.get("keywords", pd.Series(dtype=object)) if len(incidents) else []:
            for k in kws or []:
                keywords[str(k[0] if isinstance(k, (list, tuple)) else k)] += 1
        if a.incident_ids:
            members = incidents_of.members_detail(a.incident_ids)
            if len(members):
                t = pd.to_datetime(members["time"])
                inside = members[(t >= start) & (t <= end)]
                chosen = (inside if len(inside) else members).sort_values(["similarity"], ascending=False)
                # One example per incident first, biggest incident first, then fill up.
                firsts = chosen.drop_duplicates("incident_id")
                ordered = pd.concat([firsts, chosen.drop(firsts.index)])
                for title, text in zip(ordered["title"], ordered["text"], strict=True):
                    texts.append(example_text(title, text))
        if not texts and a.kind != "incident" and complaints_of is not None:
            texts = _examples_from_complaints(complaints_of, a, start, end)
        a.examples = [mask_pii(t) for t in dict.fromkeys(texts)][: config.examples]
        if keywords:
            a.keywords = [k for k, _ in keywords.most_common(config.keywords)]
        elif a.examples:
            from nlp.segment import TfidfKeywords

            a.keywords = [
                w for w, _ in TfidfKeywords().fit(a.examples).top_terms(a.examples, config.keywords)
            ]
    return alerts


def example_text(title: Any, text: Any, limit: int = 120) -> str:
    """``title：text`` (the text alone when it starts with the title), cut at ``limit``."""
    title = str(title or "").strip()
    text = str(text or "").strip()
    s = f"{title}：{text}" if title and not text.startswith(title) else text or title
    return s[:limit] + ("…" if len(s) > limit else "")


def _examples_from_complaints(
    complaints_of: ComplaintReader, a: Alert, start: pd.Timestamp, end: pd.Timestamp
) -> list[str]:
    """Complaints of the alert's series and days when the store has no incidents for them."""
    try:
        complaints = complaints_of.read(since=start.to_pydatetime(), until=end.to_pydatetime())
    except Exception as exc:
        logger.debug("no complaints for alert %s: %s", a.alert_id, exc)
        return []
    if not len(complaints):
        return []
    parts = parse_series_key(a.series_key)
    events = complaints_of.read_events(list(complaints["id"]))
    frame = complaints
    if len(events):
        frame = complaints.merge(
            events[["complaint_id", "category", "district"]].rename(
                columns={"complaint_id": "id", "district": "ev_district"}
            ),
            on="id",
            how="left",
        )
        cat = frame["category"].fillna("").where(frame["category"].fillna("") != "", frame["label"])
        dist = frame["ev_district"].fillna("").where(frame["ev_district"].fillna("") != "", frame["district"])
    else:
        cat, dist = frame["label"], frame["district"]
    keep = pd.Series(True, index=frame.index)
    if "category" in parts:
        keep &= cat == parts["category"]
    if "district" in parts:
        keep &= dist == parts["district"]
    return [
        example_text(t, x) for t, x in zip(frame.loc[keep, "title"], frame.loc[keep, "text"], strict=True)
    ]


def complaint_frame(
    source: SignalSource, since: pd.Timestamp | None = None, until: pd.Timestamp | None = None
) -> pd.DataFrame:
    """One row per complaint: ``id``, ``time``, ``category``, ``district`` (as the signals count
    it: ``未分类`` / ``未知`` when unknown), ``incident_id``, ``title`` and ``text`` (masked).

    Empty when the source cannot say which series a complaint counts in.
    """
    cols = ["id", "time", "category", "district", "incident_id", "title", "text"]
    if source.complaints is None:
        return pd.DataFrame(columns=cols)
    src = source.placed_complaints()
    if src.empty:
        return pd.DataFrame(columns=cols)
    src = src.assign(time=pd.to_datetime(src["time"], errors="coerce")).dropna(subset=["time"])
    if since is not None:
        src = src[src["time"] >= since]
    if until is not None:
        src = src[src["time"] <= until]
    src = src.drop_duplicates("id")
    texts = source.complaints.read(
        since=None if since is None else since.to_pydatetime(),
        until=None if until is None else until.to_pydatetime(),
    )
    texts = texts[["id", "title", "text"]] if len(texts) else pd.DataFrame(columns=["id", "title", "text"])
    return src.merge(texts, on="id", how="left")[cols].reset_index(drop=True)


def alert_members(complaints: pd.DataFrame, a: Alert, config: AlertConfig) -> pd.DataFrame:
    """The complaints behind an alert: its series' complaints on its days (an incident alert:
    the incident's complaints in its growth window)."""
    if complaints.empty:
        return complaints
    end = pd.Timestamp(a.last_seen) + pd.Timedelta(days=1)
    start = pd.Timestamp(a.first_seen)
    if a.kind == "incident":
        start -= pd.Timedelta(days=config.incident_window_days - 1)
        keep = complaints["incident_id"].isin(a.incident_ids[:1])
    else:
        parts = parse_series_key(a.series_key)
        keep = pd.Series(True, index=complaints.index)
        for name, value in parts.items():
            keep &= complaints[name] == value
    keep &= (complaints["time"] >= start) & (complaints["time"] < end)
    return complaints[keep]


def keyword_model(complaints: pd.DataFrame) -> Any:
    """Document frequencies over all complaints, so that a surge's keywords are what sets its
    complaints apart (not words every complaint uses)."""
    from nlp.segment import TfidfKeywords

    return TfidfKeywords().fit(
        _doc(t, x) for t, x in zip(complaints["title"], complaints["text"], strict=True)
    )


def _doc(title: Any, text: Any) -> str:
    title = "" if title is None or (isinstance(title, float) and math.isnan(title)) else str(title)
    text = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text)
    return f"{title}\n{text}".strip()


def describe_members(
    members: pd.DataFrame, model: Any, config: AlertConfig
) -> tuple[list[str], list[str], list[str]]:
    """Examples, keywords and incident ids of an alert, all from the same complaints.

    Keywords are the members' top TF-IDF terms that at least two of them use (one complaint's
    words do not describe a surge); examples are the members that carry most of those keywords,
    the biggest incident's first; finally only keywords found in the examples are kept, so a
    reader sees each keyword in an example.
    """
    from nlp.pii import mask_pii

    if members.empty:
        return [], [], []
    docs = [_doc(t, x) for t, x in zip(members["title"], members["text"], strict=True)]
    inc = members["incident_id"].where(members["incident_id"].notna(), None)
    sizes = Counter(i for i in inc if isinstance(i, str) and i)
    incident_ids = [i for i, _ in sizes.most_common(config.max_incidents)]
    candidates = [w for w, _ in model.top_terms(docs, config.keywords * 4) if not PLACE_CODE.fullmatch(w)]
    min_docs = 2 if len(docs) >= 2 else 1
    candidates = [w for w in candidates if sum(w in d for d in docs) >= min_docs] or candidates
    order = sorted(
        range(len(docs)),
        key=lambda k: (
            -sum(w in docs[k] for w in candidates[: config.keywords]),
            -sizes.get(inc.iloc[k], 0) if isinstance(inc.iloc[k], str) else 0,
            str(members["id"].iloc[k]),
        ),
    )
    chosen: list[int] = []
    seen: set[str] = set()
    for k in order:
        ex = example_text(members["title"].iloc[k], members["text"].iloc[k])
        if ex in seen:
            continue
        seen.add(ex)
        chosen.append(k)
        if len(chosen) >= config.examples:
            break
    keywords = [w for w in candidates if any(w in docs[k] for k in chosen)][: config.keywords]
    examples = [mask_pii(example_text(members["title"].iloc[k], members["text"].iloc[k])) for k in chosen]
    return examples, keywords, incident_ids


def _title_shingles(title: Any) -> frozenset[str]:
    """Character bigrams of a title without place codes and request-type words."""
    t = "" if title is None or (isinstance(title, float) and math.isnan(title)) else str(title)
    parts = TITLE_BOILERPLATE.sub(" ", PLACE_CODE.sub(" ", t)).split()
    return frozenset(p[i : i + 2] for p in parts for i in range(len(p) - 1))


# MinHash LSH over title bigrams: 16 bands of 2 rows find a pair of Jaccard 0.5 with probability
# 0.99 while each title is hashed once (linear); candidates are then checked exactly.
_MINHASH_BANDS, _MINHASH_ROWS = 16, 2
_MINHASH_PRIME = (1 << 31) - 1
_MINHASH_A = np.random.default_rng(13).integers(1, _MINHASH_PRIME, _MINHASH_BANDS * _MINHASH_ROWS)
_MINHASH_B = np.random.default_rng(14).integers(0, _MINHASH_PRIME, _MINHASH_BANDS * _MINHASH_ROWS)


def near_duplicate_pairs(titles: list[Any], threshold: float) -> list[tuple[int, int]]:
    """Pairs of positions whose titles' bigram Jaccard similarity is at least ``threshold``.

    Titles with fewer than three bigrams left (``反映噪音问题`` -> ``噪音``) say too little about a
    place or an issue to call two complaints one, and are skipped.
    """
    shingles = [_title_shingles(t) for t in titles]
    buckets: dict[tuple[int, bytes], list[int]] = {}
    for i, sh in enumerate(shingles):
        if len(sh) < 3:
            continue
        h = np.array([zlib.crc32(x.encode("utf-8")) for x in sh], dtype=np.int64)
        sig = ((np.outer(_MINHASH_A, h) + _MINHASH_B[:, None]) % _MINHASH_PRIME).min(axis=1)
        for b in range(_MINHASH_BANDS):
            band = sig[b * _MINHASH_ROWS : (b + 1) * _MINHASH_ROWS].tobytes()
            buckets.setdefault((b, band), []).append(i)
    pairs: set[tuple[int, int]] = set()
    for idx in buckets.values():
        for x, i in enumerate(idx):
            for j in idx[x + 1 :]:
                if (i, j) in pairs:
                    continue
                a, b = shingles[i], shingles[j]
                if len(a & b) >= threshold * len(a | b):
                    pairs.add((i, j))
    return sorted(pairs)


def coherent_complaints(members: pd.DataFrame, config: AlertConfig) -> set[str]:
    """Ids of an alert's complaints that share a store incident or a near-duplicate title with
    another of its complaints: the part of a surge that is one issue repeated, not a busy day."""
    if members.empty:
        return set()
    n = len(members)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for k, inc in enumerate(members["incident_id"]):
        if isinstance(inc, str) and inc:
            parent[find(k)] = find(first.setdefault(inc, k))
    for i, j in near_duplicate_pairs(list(members["title"]), config.title_similarity):
        parent[find(i)] = find(j)
    sizes = Counter(find(k) for k in range(n))
    ids = list(members["id"])
    return {str(ids[k]) for k in range(n) if sizes[find(k)] >= 2}


def keep_coherent(
    alerts: list[Alert], found: dict[int, pd.DataFrame], config: AlertConfig
) -> tuple[list[Alert], dict[int, pd.DataFrame]]:
    """Drop series alerts whose excess is not coherent; score the rest by their coherent excess.

    A series alert stays when its coherent complaints (:func:`coherent_complaints`) are at least
    ``coherent_share`` of its excess; its score's volume term is then the coherent excess (capped
    at the excess) instead of the raw one, so a repeated issue outranks a busier day of unrelated
    posts. Incident alerts are one incident by construction and keep their score.
    """
    kept: list[Alert] = []
    members: dict[int, pd.DataFrame] = {}
    for i, a in enumerate(alerts):
        if a.kind != "incident":
            coherent = min(float(len(coherent_complaints(found[i], config))), a.size)
            if coherent < config.coherent_share * a.size or coherent <= 0:
                logger.debug("alert %s dropped: coherent +%.0f of +%.0f", a.series_key, coherent, a.size)
                continue
            a.coherent = coherent
            a.score = round(surprise_score(a.p_value, config) * math.log1p(coherent), 3)
        else:
            a.coherent = a.size
        members[len(kept)] = found[i]
        kept.append(a)
    return kept, members
