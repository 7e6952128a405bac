"""Finding the places one complaint names: gazetteer names, anonymised districts, and names
ending in a place suffix, walked back over jieba's dictionary words (see :mod:`nlp.places`).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from nlp.places.gazetteer import RE_HAN, Gazetteer, Place, load_gazetteer
from nlp.places.normalize import anchors_match, normalize_district, normalize_place
from nlp.places.words import (
    BAD_FOLLOW,
    BREAKERS,
    DISTRICT_BAD_CHARS,
    DISTRICT_BAD_LAST,
    GENERIC_STEMS,
    MEASURE,
    NAME_OK_BREAKERS,
    RE_SUFFIX,
    SOFT_ENDINGS_RE,
    STOP_ENDINGS_RE,
    SUFFIXES,
    TRAILING_BREAK,
    ZONE_STEMS,
)

LEVELS = ("district", "street", "community", "road", "landmark")
# Finest first: the anchor is the first of these that is known.
ANCHOR_ORDER = ("community", "landmark", "road", "street")


# Anonymised (A市, A3区, K8县, A9市 = a county-level city under A市) and plain district names.
_RE_ANON_DISTRICT = re.compile(r"(?<![A-Za-z0-9])([A-Z]\d{1,2})([区县市])")
_RE_ANON_CITY = re.compile(r"(?<![A-Za-z0-9])([A-Z])市")

# (previous level, this level) pairs where an empty stem means the suffix extends the previous
# name: 魅力之城+小区, 城南路+街道, 黄兴路+步行街, 泉星物流园+小区. A street followed by 社区
# is the street's own office, not a new name.
_ABSORB = frozenset(
    {
        ("community", "community"), ("road", "street"), ("road", "landmark"), ("road", "community"),
        ("landmark", "community"), ("landmark", "landmark"),
    }
)  # fmt: skip

# Longest stem (characters before the suffix) we accept per level.
_MAX_STEM = {"district": 4, "street": 6, "community": 8, "road": 5, "landmark": 9}
# Longest name made by joining a pattern name with the next suffix or name (万科魅力之城 + 小区,
# 伊景园 + 滨河苑, 黄兴路 + 步行街).
_MAX_JOINED = 24

# jieba tags of words that end a name (verbs, pronouns, adverbs, particles, idioms, adjectives):
# a multi-character word with one of these ends the name; a single character only once the name
# has two characters (看云路, 吾悦广场 have one inside).
_STOP_TAGS = ("v", "vd", "p", "c", "u", "r", "d", "y", "e", "o", "z", "ad", "q", "l", "i", "b", "a", "t")
# Single characters tagged as adjectives (白, 新, 红) start many names; only these stop a name.
_STOP_TAGS_1 = ("v", "p", "c", "u", "r", "d", "y", "e", "o", "q")
_HARD_STOP_TAGS = ("v", "vd", "p", "c", "u", "r", "d", "y", "e", "o", "l", "i", "z", "ad")
_VERBISH = ("v", "vd", "vn", "p", "c", "u", "uj", "ul", "uz", "ud", "ug", "uv", "r", "d", "y", "e", "o", "ad")  # fmt: skip
_RE_BOUNDARY = re.compile(r"[^\u4e00-\u9fffA-Za-z0-9]|[0-9A-Za-z]")
_RE_ROUTE = re.compile(r"^[0-9A-Za-z一二三四五六七八九十百零两]+$")


# -- jieba: dictionary words and their tags for walking back from a suffix ---------------------

_TOK_LOCK = threading.Lock()


@lru_cache(maxsize=2)
def _tokenizer(userdict: str | None) -> tuple[Any, dict[str, str]]:
    """jieba's tokenizer with the user dictionary (shared with :mod:`nlp.segment`, only read
    here) and its word -> POS tag table."""
    import jieba.posseg

    from nlp.segment import get_tokenizer

    tok = get_tokenizer(userdict)
    with _TOK_LOCK:
        tags = dict(jieba.posseg.POSTokenizer(tok).word_tag_tab)
    tags.update(getattr(tok, "user_word_tag_tab", {}) or {})
    return tok, tags


@lru_cache(maxsize=65536)
def _words(prefix: str, userdict: str | None) -> tuple[tuple[str, str], ...]:
    tok, tags = _tokenizer(userdict)
    # Dictionary words only (no HMM): an unknown name comes out as single characters, which is
    # what we want - the HMM glues name pieces to neighbouring words (区梅, 路嘉顺).
    return tuple((w, tags.get(w, "x")) for w in tok.lcut(prefix, HMM=False))


# -- extraction --------------------------------------------------------------------------------


@dataclass
class Hit:
    """A place name found in one string, before the levels of a complaint are resolved."""

    start: int
    end: int  # end of the whole name including suffix
    name: str
    level: str
    kind: str
    source: str  # gazetteer | pattern | anon
    places: tuple[Place, ...] = ()
    stem_start: int = 0  # where the suffix begins (for pattern hits)


@dataclass
class LocationInfo:
    """The location of one complaint at the finest level found (empty strings where unknown)."""

    city: str = ""
    district: str = ""
    street: str = ""
    community: str = ""
    road: str = ""
    landmark: str = ""
    key: str = ""
    anchor: str = ""
    anchor_level: str = ""
    places: tuple[str, ...] = ()  # every fine-level place named, normalised (for grouping)
    source: str = ""  # gazetteer | pattern | hint | "" - where the anchor came from

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["places"] = list(self.places)
        return d

    @property
    def finest(self) -> str:
        """The finest named place (raw name) or the district, for display."""
        for level in ANCHOR_ORDER:
            if getattr(self, level):
                return getattr(self, level)
        return self.district


def same_place(a: LocationInfo, b: LocationInfo) -> bool:
    """True when two complaints name the same fine-level place and their districts agree.

    Anchors match when equal or when one ends with the other and the shorter has at least three
    characters (``万科魅力之城`` / ``魅力之城``, ``伊景园滨河苑`` / ``滨河苑``). Districts agree when
    equal or when either is unknown.
    """
    if not a.anchor or not b.anchor:
        return False
    if a.district and b.district and a.district != b.district:
        return False
    return anchors_match(a.anchor, b.anchor)


class LocationExtractor:
    """Finds place names in complaint text; see :mod:`nlp.places`.

    >>> ex = LocationExtractor(load_gazetteer("none"))
    >>> ex.extract("A5区魅力之城小区临街餐饮店油烟扰民").key
    'A5区|魅力之城'
    """

    def __init__(self, gazetteer: Gazetteer | None = None, *, userdict: str | None = None) -> None:
        self.gazetteer = gazetteer if gazetteer is not None else Gazetteer.empty()
        self.userdict = userdict

    # -- hits in one string -----------------------------------------------------------------

    def hits(self, text: str) -> list[Hit]:
        """Every place name in one string (a title or a text), in text order."""
        hits: list[Hit] = []
        taken = bytearray(len(text))  # 1 where a higher-priority hit already covers the text

        def free(a: int, b: int) -> bool:
            return not any(taken[a:b])

        def take(h: Hit) -> None:
            hits.append(h)
            taken[h.start : h.end] = b"\x01" * (h.end - h.start)

        for m in _RE_ANON_DISTRICT.finditer(text):
            take(Hit(m.start(), m.end(), m.group(), "district", m.group(2), "anon"))
        for m in _RE_ANON_CITY.finditer(text):
            if free(m.start(), m.end()):
                take(Hit(m.start(), m.end(), m.group(), "city", "市", "anon"))
        g = self.gazetteer
        if g:
            # Place names before the city name, so that 澜江北站 is a station, not 澜江 + 北站.
            for s, e, surface in g.find(text):
                if not free(s, e):
                    continue
                places = tuple(g.entries[surface])
                lvl = places[0].level
                take(Hit(s, e, places[0].name, lvl, places[0].kind, "gazetteer", places))
            for city in (g.city, *g.city_aliases):
                if city:
                    for m in re.finditer(re.escape(city), text):
                        if free(m.start(), m.end()):
                            take(Hit(m.start(), m.end(), g.city, "city", "市", "gazetteer"))
        # Plain (non-anonymised) district names only right after a city or province name
        # (长沙市岳麓区): elsewhere X区 is far more often a zone (建筑区, 景区, 城区, 开发区).
        for m in re.finditer(r"(?<=[市省])([\u4e00-\u9fff]{2,4}?)([区县])", text):
            s, e = m.start(), m.end()
            if not free(s, e):
                continue
            before = text[s - 1] if s else ""
            if not before or before not in "市省":
                continue
            stem = m.group(1)
            if (
                stem in GENERIC_STEMS
                or stem in ZONE_STEMS
                or stem[-1] in DISTRICT_BAD_LAST
                or any(ch in DISTRICT_BAD_CHARS for ch in stem)
                or STOP_ENDINGS_RE.search(m.group())
            ):
                continue
            take(Hit(s, e, m.group(), "district", m.group(2), "pattern"))
        # Pattern names, left to right, so that each walk-back knows where the previous name ends.
        # Suffix matches come in text order, so the pattern hits' ends increase along the list:
        # the previous name is always the last one, and the floor is a running maximum. (Scanning
        # every earlier hit for each suffix was quadratic in a long text full of place names.)
        boundaries = sorted(hits, key=lambda h: h.end)
        b_next = 0
        b_floor = 0
        pattern_hits: list[Hit] = []
        for m in RE_SUFFIX.finditer(text):
            suffix = m.group()
            s0, e0 = m.start(), m.end()
            if not free(s0, e0):
                continue
            follow = text[e0 : e0 + 4]
            if any(follow.startswith(f) for f in BAD_FOLLOW.get(suffix, ())):
                continue
            level, kind = SUFFIXES[suffix]
            while b_next < len(boundaries) and boundaries[b_next].end <= s0:
                b_floor = boundaries[b_next].end
                b_next += 1
            last = pattern_hits[-1] if pattern_hits else None
            floor = max(b_floor, last.end if last is not None else 0)
            prev = last if last is not None and last.end == s0 else None
            stem = self._walk_back(text, floor, s0, level, suffix)
            name_start = s0 - len(stem)
            if (
                prev is None
                and len(stem) >= 2
                and last is not None
                and last.end == name_start
                and last.level == level == "community"
            ):
                prev = last
            # Joined names stay name-sized: 阳光花园小区阳光花园小区... is many names, not one that
            # grows with the text (and is re-segmented whole at every step).
            if prev is not None and e0 - prev.start > _MAX_JOINED:
                prev = None
            if prev is not None and len(stem) == 0 and (prev.level, level) in _ABSORB:
                # 魅力之城 + 小区, 城南路 + 街道, 黄兴路 + 步行街: the suffix extends the previous name.
                pattern_hits.pop()
                name_start = prev.start
                stem = text[prev.start : s0]
                if prev.level == "community" and level == "community" and suffix in ("小区", "社区"):
                    kind = SUFFIXES[suffix][1]
            elif prev is not None and prev.level == level == "community" and prev.end == name_start:
                # 伊景园 + 滨河苑: one compound named in two parts.
                pattern_hits.pop()
                name_start = prev.start
                stem = text[prev.start : s0]
            name = text[name_start:e0]
            if not self._valid(stem, name, level, suffix):
                continue
            pattern_hits.append(Hit(name_start, e0, name, level, kind, "pattern", stem_start=s0))
        hits.extend(pattern_hits)
        hits.sort(key=lambda h: h.start)
        return hits

    def _walk_back(self, text: str, floor: int, suffix_start: int, level: str, suffix: str) -> str:
        lo = max(floor, suffix_start - _MAX_STEM[level] - 4)
        window = text[lo:suffix_start]
        # Cut at the last character that cannot be inside a name (punctuation, digits, latin).
        cut = 0
        for m in _RE_BOUNDARY.finditer(window):
            cut = m.end()
        window = window[cut:]
        if not window:
            return ""
        words = _words(window, self.userdict)
        stem = ""
        for word, tag in reversed(words):
            if word in BREAKERS:
                if 0 < len(stem) < 2 and word in NAME_OK_BREAKERS:
                    stem = word + stem
                    continue
                break
            if not tag.startswith("n") and (tag != "vn" or len(stem) >= 2):
                if len(stem) >= 2:
                    stop = tag.startswith(_STOP_TAGS) if len(word) > 1 else tag.startswith(_STOP_TAGS_1)
                else:
                    # Too short to be a name yet: only a clear verb/pronoun/particle word ends it
                    # (正对着小区, 强占小区); adjectives and single characters are name parts
                    # (幸福桥社区, 看云路), and towns are named after anything (跳马镇).
                    stop = len(word) > 1 and tag.startswith(_HARD_STOP_TAGS)
                    if stop and level == "street" and not stem and suffix in ("镇", "乡"):
                        stop = False
                if stop:
                    break
            if len(stem) + len(word) > _MAX_STEM[level]:
                break
            stem = word + stem
        # jieba glues a trailing function character to the word before it (辅道和小区).
        if stem and stem[-1] in TRAILING_BREAK:
            return ""
        return stem

    def _valid(self, stem: str, name: str, level: str, suffix: str) -> bool:
        if len(stem) < 2 or stem in GENERIC_STEMS:
            return False
        if not RE_HAN.search(stem):
            return False
        stop = STOP_ENDINGS_RE.search(name)
        if stop is not None and len(stop.group()) > len(suffix):
            return False  # 道路, 政府, 沿街, 农村: the suffix glued into a common word
        soft = SOFT_ENDINGS_RE.search(name)
        if soft is not None and len(soft.group()) > len(suffix):
            head = name[: -len(soft.group())]
            if not head or head in GENERIC_STEMS or head[-1] in MEASURE:
                return False
        if level == "road" and _RE_ROUTE.match(stem):
            return False  # 809路 is a bus route, 一路 is "all the way"
        if stem[-1] in MEASURE:
            return False  # 两条路, 这段路, 一所学校
        if suffix not in ("镇", "乡"):
            # A name needs something name-like: 修复路面 / 取得街道 are a verb plus a suffix.
            words = _words(stem, self.userdict)
            if all(t.startswith(_VERBISH) and not t.startswith("n") for _, t in words):
                return False
            # 繁华街道, 热闹街道: an adjective before 街道 describes streets, it does not name one.
            last_word, last_tag = words[-1]
            if level == "street" and len(last_word) > 1 and last_tag in ("a", "ad", "an", "d", "v", "vd"):
                return False
        return True

    # -- one complaint --------------------------------------------------------------------------

    def extract(self, text: str, title: str = "", *, district_hint: str = "") -> LocationInfo:
        """Location of a complaint from its title and text (either may be empty).

        ``district_hint`` (the log's district column, if it has one) fills the district when the
        text does not name one and decides between same-named gazetteer places.
        """
        found: list[tuple[Hit, bool]] = []
        for field_text, in_title in ((title or "", True), (text or "", False)):
            if field_text:
                found.extend((h, in_title) for h in self.hits(field_text))
        return self._resolve(found, district_hint=normalize_district(district_hint, self.gazetteer))

    def _resolve(self, found: list[tuple[Hit, bool]], *, district_hint: str) -> LocationInfo:
        info = LocationInfo()
        by_level: dict[str, list[tuple[Hit, bool, int]]] = {}
        for order, (h, in_title) in enumerate(found):
            by_level.setdefault(h.level, []).append((h, in_title, order))

        def best(level: str, prefer_district: str = "") -> Hit | None:
            cands = by_level.get(level)
            if not cands:
                return None
            counts = Counter(normalize_place(h.name) for h, _, _ in cands)

            def score(item: tuple[Hit, bool, int]) -> tuple[int, int, int, int]:
                h, in_title, order = item
                agrees = int(
                    (bool(prefer_district) and any(p.district == prefer_district for p in h.places))
                    or not h.places
                )
                return (agrees, int(in_title), counts[normalize_place(h.name)], -order)

            return max(cands, key=score)[0]

        city = best("city")
        info.city = city.name if city else ""
        district = best("district")
        explicit_district = district.name if district else ""
        if district is not None and district.places:
            explicit_district = district.places[0].name
        prefer = explicit_district or district_hint
        chosen: dict[str, Hit] = {}
        for level in ("street", "community", "road", "landmark"):
            h = best(level, prefer)
            if h is not None:
                chosen[level] = h

        # Parents from the gazetteer (a compound knows its street and district).
        def place_of(h: Hit) -> Place | None:
            if not h.places:
                return None
            for p in h.places:
                if prefer and p.district == prefer:
                    return p
            return h.places[0] if len({p.district for p in h.places}) == 1 else None

        gaz_district = ""
        gaz_street = ""
        for level in ("community", "landmark", "street", "road"):
            h = chosen.get(level)
            p = place_of(h) if h else None
            if p is None:
                continue
            if prefer and p.district and p.district != prefer:
                continue  # the text names another district: the gazetteer entry is a namesake
            gaz_district = gaz_district or p.district
            if level != "road" or p.street:
                gaz_street = gaz_street or p.street
        info.district = explicit_district or gaz_district or district_hint
        if not info.city and district is not None:
            # 岳麓区 alone names 长沙市 (when no other city has a 岳麓区: 鼓楼区 is in four).
            cities = {p.city for p in district.places if p.city}
            if len(cities) == 1 and len(district.places) == 1:
                info.city = cities.pop()
        for level in ("street", "community", "road", "landmark"):
            h = chosen.get(level)
            if h is not None:
                name = h.places[0].name if h.places else h.name
                setattr(info, level, normalize_place(name) if level == "street" else name)
        if not info.street and gaz_street:
            info.street = gaz_street
        places: dict[str, None] = {}  # ordered set: a list's `in` was quadratic in the names
        for level in ("community", "landmark", "road"):
            for h, _, _ in by_level.get(level, []):
                places.setdefault(normalize_place(h.places[0].name if h.places else h.name))
        info.places = tuple(places)
        for level in ANCHOR_ORDER:
            value = getattr(info, level)
            if value:
                info.anchor = normalize_place(value)
                info.anchor_level = level
                h = chosen.get(level)
                info.source = h.source if h is not None and h.source != "anon" else "gazetteer"
                if h is None:
                    info.source = "gazetteer"
                break
        if not info.anchor and info.district:
            info.source = "hint" if not explicit_district and district_hint else "pattern"
        info.key = location_key(info)
        return info


def location_key(info: LocationInfo) -> str:
    """``district|street|place`` with unknown levels left out (``""`` when nothing is known)."""
    place = ""
    for level in ("community", "landmark", "road"):
        if getattr(info, level):
            place = normalize_place(getattr(info, level))
            break
    parts = [info.district, normalize_place(info.street) if info.street else "", place]
    return "|".join(p for p in parts if p)


def extract_location(
    text: str, title: str = "", *, gazetteer: Gazetteer | None = None, district_hint: str = ""
) -> LocationInfo:
    """Convenience wrapper: :meth:`LocationExtractor.extract` with a cached extractor."""
    return _default_extractor(gazetteer).extract(text, title, district_hint=district_hint)


_EXTRACTORS: dict[int, LocationExtractor] = {}


def _default_extractor(gazetteer: Gazetteer | None) -> LocationExtractor:
    g = gazetteer if gazetteer is not None else load_gazetteer("default")
    ex = _EXTRACTORS.get(id(g))
    if ex is None or ex.gazetteer is not g:
        ex = LocationExtractor(g)
        _EXTRACTORS.clear()
        _EXTRACTORS[id(g)] = ex
    return ex
