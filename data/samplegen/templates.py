"""The templates of the sample log, read from ``data/templates/*.json``: the issues citizens
report, the planted incidents, the phrase banks of the composer, personal-data phrasing and the
city-management terms of the jieba dictionary. Each file says in its ``about`` what it holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from data.samplegen.settings import DATA_DIR

TEMPLATES_DIR = DATA_DIR / "templates"


@dataclass(frozen=True)
class Issue:
    """One kind of problem that citizens report, with the words they use for it."""

    key: str
    label: str
    where: tuple[str, ...]  # place kinds, as PlacePicker.pick takes them
    short: tuple[str, ...]  # short names of the problem (titles, short texts)
    what: tuple[str, ...]  # core descriptions; the first sentence of a complaint
    details: tuple[str, ...]  # specifics a caller adds
    impacts: tuple[str, ...]  # why it matters
    times: tuple[str, ...] = ("早上七点多", "晚上十点以后", "中午", "傍晚")
    pressing: float = 0.0  # probability that an ordinary case is graded 较急


@dataclass(frozen=True)
class Incident:
    """Several complaints about one incident: same place, same problem, different callers.

    ``schedule`` lists ``(date, rows, (first hour, last hour))``; hours past 23 fall on the next
    day (night-noise complaints at 00:30). ``issue.what`` opens the first day's complaints and
    ``later`` the following days'. ``alt`` (label, sentences, rows) makes a few rows that an
    operator filed under another category. ``same_caller`` rows all come from one caller.
    """

    key: str
    issue: Issue
    district: str
    street: str
    name: str
    spots: tuple[str, ...]
    later: tuple[str, ...]
    schedule: tuple[tuple[str, int, tuple[int, int]], ...]
    alt: tuple[str, tuple[str, ...], int] | None = None
    same_caller: int = 0
    likes: tuple[int, int] = (0, 20)
    urgent: tuple[str, ...] = ()  # opening sentences of the rows graded 紧急
    tiers: tuple[str, ...] = ("medium", "medium", "long")
    replied: str = ""  # when the agency answered all of them at once, if it did


def _tuples(value: Any) -> Any:
    """JSON lists as tuples, recursively: the templates are immutable (and Issue is hashable)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _read(name: str) -> dict[str, Any]:
    return _tuples(json.loads((TEMPLATES_DIR / name).read_text(encoding="utf-8")))


def _issue(raw: dict[str, Any]) -> Issue:
    return Issue(**raw)


def _incident(raw: dict[str, Any]) -> Incident:
    return Incident(**{**raw, "issue": _issue(raw["issue"])})


_ISSUES = _read("issues.json")
ISSUES: tuple[Issue, ...] = tuple(_issue(i) for i in _ISSUES["issues"])
# The category the original log lacks (new_labels.csv only).
NEW_ISSUES: tuple[Issue, ...] = tuple(_issue(i) for i in _ISSUES["new_issues"])
# Urgent cases: (issue, how many rows, fixed dates or () for random days).
URGENT_CASES: tuple[tuple[Issue, int, tuple[str, ...]], ...] = tuple(
    (_issue(c["issue"]), c["rows"], c["dates"]) for c in _ISSUES["urgent_cases"]
)

_INCIDENTS = _read("incidents.json")
SURGE = _incident(_INCIDENTS["surge"])
CLUSTERS: tuple[Incident, ...] = tuple(_incident(c) for c in _INCIDENTS["clusters"])
INCIDENTS = {inc.key: inc for inc in (SURGE, *CLUSTERS)}

_PHRASES = _read("phrases.json")
DURATIONS: tuple[str, ...] = _PHRASES["durations"]
PHONE_OPENERS: tuple[str, ...] = _PHRASES["phone_openers"]
PHONE_CLOSINGS: tuple[str, ...] = _PHRASES["phone_closings"]
PHONE_HISTORY: tuple[str, ...] = _PHRASES["phone_history"]
PHONE_NOTES: tuple[str, ...] = _PHRASES["phone_notes"]
PHONE_NARRATIVE: tuple[str, ...] = _PHRASES["phone_narrative"]
PHONE_TITLES: tuple[str, ...] = _PHRASES["phone_titles"]
WEB_OPENERS: tuple[str, ...] = _PHRASES["web_openers"]
WEB_INTROS: tuple[str, ...] = _PHRASES["web_intros"]
RESIDENT_INTROS: tuple[str, ...] = _PHRASES["resident_intros"]  # compounds only
WEB_BACKGROUND: tuple[str, ...] = _PHRASES["web_background"]
RESIDENT_BACKGROUND: tuple[str, ...] = _PHRASES["resident_background"]
WEB_HISTORY: tuple[str, ...] = _PHRASES["web_history"]
WEB_FEELINGS: tuple[str, ...] = _PHRASES["web_feelings"]
WEB_PLEAS: tuple[str, ...] = _PHRASES["web_pleas"]
WEB_NARRATIVE: tuple[str, ...] = _PHRASES["web_narrative"]
WEB_SHORT_TAILS: tuple[str, ...] = _PHRASES["web_short_tails"]
WEB_TITLES: tuple[str, ...] = _PHRASES["web_titles"]
URGENT_TITLES: tuple[str, ...] = _PHRASES["urgent_titles"]
DEMANDS: dict[str, tuple[str, ...]] = _PHRASES["demands"]

PERSONAL_DATA = _read("personal_data.json")

_TERMS = _read("terms.json")
# City-management vocabulary that jieba's general dictionary splits: (word, part of speech).
TERMS: tuple[tuple[str, str], ...] = tuple((w, pos) for pos, words in _TERMS["terms"].items() for w in words)
TERM_FREQ: int = _TERMS["frequency"]
