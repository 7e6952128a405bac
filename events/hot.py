"""Incident summaries and the heat score that ranks hot issues (热点问题).

An incident's **heat** combines how many people complain, how much support the complaints get,
how long the problem has lasted and whether it is growing right now:

    heat = V × (1 + 0.25·ln(1 + L)) × (1 + 0.1·ln(1 + S)) × G

* ``V = Σ over callers (1 + ln k)``, ``k`` the complaints of that caller in the incident: every
  distinct caller counts fully, their repeats sub-linearly (one angry resident posting ten
  times weighs 3.3, not ten residents; five residents once each weigh 5). Complaints without a
  caller id each count as a caller of their own.
* ``L``: likes/support votes on the member complaints, where the log has them (message boards
  do; phone hotlines usually do not, and then this factor is 1). Logarithmic, so a message
  with 2,000 likes weighs like a handful of extra callers, not 2,000.
* ``S``: span in days from the first to the last complaint: a problem that has gone on for
  weeks weighs a little more than a one-day flurry of the same size.
* ``G = clip((c7 + 1) / (p7 + 1), 0.5, 3) ** 0.5``: growth, with ``c7`` the incident's
  complaints in the 7 days up to ``as_of`` (the newest complaint in the store) and ``p7`` in
  the 7 days before. An incident that is quiet now gets 1 (history is not penalised), one that
  is surging up to √3 ≈ 1.73, one that is fading down to √0.5 ≈ 0.71.

The ``growth`` stored with each incident is that ratio (before the square root and clipping).
At ingest ``as_of`` is the newest complaint in the store, so after loading a whole historical log
every incident is quiet "now" and its growth is 1.00. For a summary *as of a date* pass that
date with ``upto_as_of=True`` to :func:`summarize_incidents`: members filed later are left out
(counts, callers, span and heat as they stood then) and growth compares the ``growth_days``
up to it with the ``growth_days`` before.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from events.similarity import as_list
from nlp.pii import mask_pii

URGENCY_RANK = {"一般": 0, "较急": 1, "紧急": 2}
GROWTH_DAYS = 7


def caller_volume(per_caller: Sequence[int]) -> float:
    """``V`` of the heat: ``Σ (1 + ln k)`` over the complaint counts ``k`` of each caller."""
    return float(sum(1.0 + math.log(k) for k in per_caller if k > 0))


def heat_score(
    n_complaints: int,
    n_callers: int,
    likes: float,
    span_days: float,
    growth: float,
    *,
    per_caller: Sequence[int] | None = None,
) -> float:
    """The heat of one incident (formula in the module docstring).

    ``per_caller``: complaints of each distinct caller (complaints without a caller id as 1
    each). Without it the repeats are assumed spread evenly over the callers.
    """
    if per_caller is None:
        callers = max(n_callers, 1) if n_complaints else 0
        per_caller = [
            n_complaints // callers + (1 if i < n_complaints % callers else 0) for i in range(callers)
        ]
    volume = caller_volume(per_caller)
    g = min(max(growth, 0.5), 3.0) ** 0.5
    return volume * (1 + 0.25 * math.log1p(max(likes, 0))) * (1 + 0.1 * math.log1p(max(span_days, 0))) * g


def window_counts(times: Sequence[Any], as_of: datetime, days: int = GROWTH_DAYS) -> tuple[int, int]:
    """Complaints in the ``days`` up to ``as_of`` (inclusive) and in the ``days`` before those."""
    span = timedelta(days=days)
    end = pd.Timestamp(as_of)
    ts = [pd.Timestamp(t) for t in times if t is not None and not pd.isna(t)]
    recent = sum(1 for t in ts if end - span < t <= end)
    before = sum(1 for t in ts if end - 2 * span < t <= end - span)
    return recent, before


def growth_ratio(times: Sequence[Any], as_of: datetime | None, days: int = GROWTH_DAYS) -> float:
    """(complaints in the ``days`` up to ``as_of`` + 1) / (complaints in the ``days`` before + 1)."""
    if as_of is None:
        return 1.0
    recent, before = window_counts(times, as_of, days)
    return float((recent + 1) / (before + 1))


def _incident_urgency(levels: Sequence[Any]) -> str:
    """The highest level reached by one member of a small incident (under 10 complaints) or by
    two of a larger one: a single message among fifty that mentions 受伤 in passing does not make
    the incident an emergency, two independent reports do, and so does one gas-leak call."""
    counts = Counter(lv for lv in levels if isinstance(lv, str) and lv in URGENCY_RANK)
    need = 1 if len(levels) < 10 else 2
    for level in sorted(URGENCY_RANK, key=lambda lv: -URGENCY_RANK[lv]):
        # A level counts with the members at or above it.
        at_least = sum(c for lv, c in counts.items() if URGENCY_RANK[lv] >= URGENCY_RANK[level])
        if at_least >= need:
            return level
    return "一般"


def _sort_key(t: Any) -> float:
    return -1e18 if t is None or pd.isna(t) else pd.Timestamp(t).value / 1e9


def _int(v: Any) -> int:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0
    return 0 if math.isnan(f) else int(f)


def _majority(values: Sequence[Any]) -> str:
    vals = [str(v) for v in values if isinstance(v, str) and v]
    if not vals:
        return ""
    counts = Counter(vals)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def summarize_incidents(
    members: pd.DataFrame,
    *,
    as_of: datetime | None = None,
    top_keywords: int = 8,
    growth_days: int = GROWTH_DAYS,
    upto_as_of: bool = False,
) -> pd.DataFrame:
    """One summary row per incident from its members.

    ``members`` has one row per complaint with ``incident_id``, ``id``, ``time``, ``title``,
    ``text``, ``caller``, ``likes``, ``category``, ``district``, ``location_key``, ``anchor``,
    ``urgency``, ``keywords`` (as :meth:`events.store.incidents.IncidentRepository.members_detail`
    returns). The description is the title (or the start of the text) of the most typical
    member: the one whose keywords overlap most with the incident's keywords.

    ``upto_as_of``: the summaries as they stood at ``as_of`` (members filed later, or without a
    time, left out; incidents with no member left are dropped).
    """
    if upto_as_of and as_of is not None and not members.empty:
        t = pd.to_datetime(members["time"], errors="coerce")
        members = members[t.notna() & (t <= pd.Timestamp(as_of))]
    rows = []
    if members.empty:
        return pd.DataFrame(
            columns=[
                "incident_id", "category", "district", "location_key", "anchor", "first_seen", "last_seen",
                "n_complaints", "n_callers", "likes", "growth", "heat", "urgency", "keywords", "description",
                "representative_id",
            ]
        )  # fmt: skip
    # Plain Python over records: most incidents have one member, and pandas' per-group overhead
    # would dominate (thousands of groups per batch).
    times = pd.to_datetime(members["time"], errors="coerce")
    recs = members.assign(_t=times).to_dict(orient="records")
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in recs:
        groups.setdefault(str(r["incident_id"]), []).append(r)
    for iid in sorted(groups):
        g = sorted(groups[iid], key=lambda r: (_sort_key(r["_t"]), str(r["id"])))
        n = len(g)
        callers = [r.get("caller") for r in g if isinstance(r.get("caller"), str) and r.get("caller")]
        # Complaints without a caller id count as distinct callers (each a different person).
        n_callers = len(set(callers)) + (n - len(callers))
        per_caller = [*Counter(callers).values(), *([1] * (n - len(callers)))]
        likes = int(sum(_int(r.get("likes")) for r in g))
        ts = [r["_t"] for r in g if not pd.isna(r["_t"])]
        first, last = (min(ts), max(ts)) if ts else (None, None)
        span = (last - first) / timedelta(days=1) if ts else 0.0
        growth = growth_ratio(ts, as_of, growth_days) if ts else 1.0
        member_kws = [as_list(r.get("keywords")) for r in g]
        kw_counts: Counter[str] = Counter()
        for kws in member_kws:
            kw_counts.update(set(kws))
        keywords = [w for w, _ in sorted(kw_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_keywords]]
        top = set(keywords)
        best = max(range(n), key=lambda k: (len(top & set(member_kws[k])), -k))
        rep = g[best]
        title = str(rep.get("title") or "").strip()
        description = title or str(rep.get("text") or "")[:60]
        urg = _incident_urgency([r.get("urgency") for r in g])
        rows.append(
            {
                "incident_id": iid,
                "category": _majority([r.get("category") for r in g]),
                "district": _majority([r.get("district") for r in g]),
                "location_key": _best_key(
                    [r.get("location_key") for r in g],
                    [r.get("anchor") for r in g],
                    [r.get("district") for r in g],
                ),
                "anchor": _majority([r.get("anchor") for r in g]),
                "first_seen": first.to_pydatetime() if first is not None else None,
                "last_seen": last.to_pydatetime() if last is not None else None,
                "n_complaints": n,
                "n_callers": n_callers,
                "likes": likes,
                "growth": round(growth, 4),
                "heat": round(heat_score(n, n_callers, likes, span, growth, per_caller=per_caller), 4),
                "urgency": urg,
                "keywords": keywords,
                "description": mask_pii(description),
                "representative_id": str(rep["id"]),
            }
        )
    return pd.DataFrame(rows)


def _best_key(keys: Sequence[Any], anchors: Sequence[Any], districts: Sequence[Any]) -> str:
    # Built from the members' majorities (district, then the street most members name with the
    # usual place, then the place) so that one member with an odd district cannot relabel it.
    anchor = _majority(list(anchors))
    keys = [k for k in keys if isinstance(k, str) and k]
    if not anchor:
        return _majority(keys)
    streets = [k.split("|")[1] for k in keys if k.count("|") == 2 and k.endswith(anchor)]
    parts = [_majority(list(districts)), _majority(streets), anchor]
    return "|".join(p for p in parts if p)


def format_hot_table(hot: pd.DataFrame, *, width: int = 40) -> str:
    """A plain-text table of hot issues for the terminal (what a city official reads)."""
    if hot.empty:
        return "no incidents with at least the minimum number of complaints; run `hotline events` first"
    lines = []
    for _, r in hot.iterrows():
        first = pd.Timestamp(r["first_seen"]).strftime("%Y-%m-%d") if pd.notna(r["first_seen"]) else "?"
        last = pd.Timestamp(r["last_seen"]).strftime("%Y-%m-%d") if pd.notna(r["last_seen"]) else "?"
        place = r["location_key"] or r["anchor"] or r["district"] or "(地点不明)"
        kws = "、".join(as_list(r["keywords"])[:6])
        lines.append(
            f"#{int(r['rank'])}  热度 {r['heat']:.1f}  {place}  [{r['category'] or '未分类'}]  {r['urgency']}\n"
            f"    {first} ~ {last}   投诉 {int(r['n_complaints'])} 件 / {int(r['n_callers'])} 人"
            + (f" / 点赞 {int(r['likes'])}" if int(r["likes"]) else "")
            + f"   增长 ×{float(r['growth']):.2f}\n"
            f"    {str(r['description'])[: width * 2]}\n"
            f"    关键词: {kws}\n"
            f"    编号: {r['incident_id']}"
        )
    return "\n\n".join(lines)
