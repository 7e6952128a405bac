"""Canonical forms of place and district names, so that spellings of one place compare equal."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nlp.places.gazetteer import Gazetteer

_RE_PHASE = re.compile(
    r"(?<=[\u4e00-\u9fff])(?:[一二三四五六七八九十\d]{1,4}期|[一二三四五六七八九十\d]{1,4}期?[A-Za-z]?(?:区|组团))$"
)


def normalize_place(name: str) -> str:
    """Canonical form of a place name for comparing: drops 小区/办事处 tails and spaces."""
    s = re.sub(r"\s+", "", name)
    for tail, repl in (("街道办事处", "街道"), ("街道办", "街道"), ("街办事处", "街道"), ("办事处", "")):
        if s.endswith(tail):
            s = s[: -len(tail)] + repl
            break
    # Phases and blocks of one development (绿地海外滩二期, 振业城三期A组团) are the same place
    # for grouping: residents write the phase or leave it out.
    if s.endswith("小区") and len(s) >= 4:
        s = s[:-2]
    elif s.endswith("社区") and len(s) >= 6:
        s = s[:-2]  # 丽发新城社区 is the residents' committee of 丽发新城: one place
    s = _RE_PHASE.sub("", s) or s
    return s


def anchors_match(x: str, y: str) -> bool:
    if x == y:
        return True
    short, long_ = (x, y) if len(x) <= len(y) else (y, x)
    return len(short) >= 3 and long_.endswith(short)


def normalize_district(value: str, gazetteer: Gazetteer | None = None) -> str:
    """A district column value in the form the extractor produces (江北 -> 江北区 via the gazetteer)."""
    v = re.sub(r"\s+", "", value or "")
    if not v or v in ("未知", "nan", "None", "-"):
        return ""
    if gazetteer:
        for p in gazetteer.entries.get(v, []):
            if p.level == "district":
                return p.name
        if gazetteer.path == "admin" and len(v) >= 2:
            # A district column of a real log often drops the suffix (岳麓 for 岳麓区).
            full = [v + tail for tail in ("区", "县", "市") if v + tail in gazetteer.entries]
            found = [p for f in full for p in gazetteer.entries[f] if p.level == "district"]
            if len({p.name for p in found}) == 1:
                return found[0].name
    return v
