"""The word lists of place extraction, read once from ``data/place_words.json``.

Each list's entry in the file says why it exists; the extractor (:mod:`nlp.places.extract`) and
the gazetteer's matcher (:mod:`nlp.places.gazetteer`) use them as sets and compiled patterns.
"""

from __future__ import annotations

import json
import re
from typing import Any

from data import resource


def _load() -> dict[str, Any]:
    raw = json.loads(resource("place_words.json").read_text(encoding="utf-8"))
    return {key: entry["words"] for key, entry in raw.items() if isinstance(entry, dict)}


def _ending_pattern(endings: list[str]) -> re.Pattern[str]:
    # Longest first, so that the longest word a candidate ends with is the one found.
    return re.compile("(?:" + "|".join(sorted(map(re.escape, endings), key=len, reverse=True)) + ")$")


_WORDS = _load()

# suffix -> (level, kind). Longer suffixes are tried first (the alternation is sorted).
SUFFIXES: dict[str, tuple[str, str]] = {k: (v[0], v[1]) for k, v in _WORDS["suffixes"].items()}
RE_SUFFIX = re.compile("|".join(re.escape(s) for s in sorted(SUFFIXES, key=len, reverse=True)))
BAD_FOLLOW: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in _WORDS["bad_follow"].items()}
STOP_ENDINGS_RE = _ending_pattern(_WORDS["stop_endings"])
SOFT_ENDINGS_RE = _ending_pattern(_WORDS["soft_endings"])
GENERIC_STEMS = frozenset(_WORDS["generic_stems"])
BREAKERS = frozenset(_WORDS["breakers"])
NAME_OK_BREAKERS = frozenset(_WORDS["name_ok_breakers"])
TRAILING_BREAK = frozenset(_WORDS["trailing_break"])
MEASURE = frozenset(_WORDS["measure"])
ZONE_STEMS = frozenset(_WORDS["zone_stems"])
DISTRICT_BAD_CHARS = frozenset(_WORDS["district_bad_chars"])
DISTRICT_BAD_LAST = frozenset(_WORDS["district_bad_last"])
ADMIN_GLUED = frozenset(_WORDS["admin_glued"])
ALIAS_CONTINUATION = frozenset(_WORDS["alias_continuation"])
