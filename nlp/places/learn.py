"""A city's own places, learned from the texts of its complaint log (``hotline gazetteer build``).

The complaint log itself is read by the caller: :func:`learn_gazetteer` takes records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from nlp.places.extract import LocationExtractor
from nlp.places.gazetteer import Gazetteer, admin_gazetteer
from nlp.places.normalize import normalize_district, normalize_place

# How the places a log names are filed in a learned gazetteer (schema in data/README.md).
_LEARN_LEVELS = ("street", "community", "road", "landmark")
_LEARN_KEY = {"street": "streets", "community": "communities", "road": "roads", "landmark": "landmarks"}


def learn_gazetteer(
    records: Iterable[tuple[str, str, str, str]],
    *,
    min_count: int = 2,
    district_share: float = 0.6,
    examples: int = 3,
    source: str = "",
) -> dict[str, Any]:
    """A review-ready gazetteer of the streets/towns, estates/villages, roads and landmarks that
    a complaint log names, from ``(id, title, text, district)`` records.

    Each place has ``count`` (complaints naming it), its spellings as ``aliases`` (every form
    that normalises alike: 魅力之城小区 / 魅力之城), ``district_counts`` and a few example ``ids``
    to check it by. A place is filed under a district when at least ``district_share`` of the
    complaints that name a district name that one, else under top-level ``places``. Names seen
    fewer than ``min_count`` times are left out: most one-off names are pattern mistakes.
    The result loads with ``--gazetteer`` (extra keys are ignored) and adds to the national
    administrative table (``include_admin``).
    """
    ex = LocationExtractor(admin_gazetteer())
    counts: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = {}
    levels: dict[str, Counter[str]] = {}
    kinds: dict[str, Counter[str]] = {}
    districts: dict[str, Counter[str]] = {}
    ids: dict[str, list[str]] = {}
    n = 0
    for rid, title, text, district in records:
        n += 1
        hits = [h for t in (title, text) if t for h in ex.hits(t)]
        named = [h.places[0].name if h.places else h.name for h in hits if h.level == "district"]
        d = normalize_district(district, ex.gazetteer) or (
            Counter(named).most_common(1)[0][0] if named else ""
        )
        seen: set[str] = set()
        for h in hits:
            if h.level not in _LEARN_LEVELS or h.source != "pattern":
                continue
            key = normalize_place(h.name)
            forms.setdefault(key, Counter())[h.name] += 1
            levels.setdefault(key, Counter())[h.level] += 1
            kinds.setdefault(key, Counter())[h.kind] += 1
            if key in seen:
                continue
            seen.add(key)
            counts[key] += 1
            if d:
                districts.setdefault(key, Counter())[d] += 1
            if len(ids.setdefault(key, [])) < examples:
                ids[key].append(str(rid))
    by_district: dict[str, dict[str, list[dict[str, Any]]]] = {}
    loose: list[dict[str, Any]] = []
    for key, c in counts.most_common():
        if c < min_count:
            break
        level = levels[key].most_common(1)[0][0]
        name = forms[key].most_common(1)[0][0]
        entry: dict[str, Any] = {
            "name": name,
            "kind": kinds[key].most_common(1)[0][0],
            "aliases": sorted(f for f in forms[key] if f != name),
            "count": c,
            "district_counts": dict(districts.get(key, Counter()).most_common()),
            "ids": ids[key],
        }
        dc = districts.get(key)
        top = dc.most_common(1)[0] if dc else None
        if top is not None and top[1] >= district_share * sum(dc.values()):
            by_district.setdefault(top[0], {}).setdefault(_LEARN_KEY[level], []).append(entry)
        else:
            loose.append({**entry, "level": level})
    return {
        "city": "",
        "include_admin": True,
        "learned": {"source": source, "complaints": n, "min_count": min_count},
        "note": (
            "learned from a complaint log by 'hotline gazetteer build': review before use - delete "
            "entries that are not places, merge spellings into aliases"
        ),
        "districts": [
            {"name": d, "kind": d[-1], "aliases": [], **lists} for d, lists in sorted(by_district.items())
        ],
        "places": loose,
    }


def gazetteer_coverage(gazetteer: Gazetteer, places: Iterable[Iterable[str]]) -> tuple[int, int]:
    """(known, total) place mentions below district level: how many of the names a log's
    complaints give (``LocationInfo.places`` per complaint) the gazetteer has."""
    names = gazetteer.fine_names()
    known = total = 0
    for row in places:
        for name in row:
            total += 1
            known += normalize_place(name) in names
    return known, total
