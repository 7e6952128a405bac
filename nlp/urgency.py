"""How urgent a complaint is: 紧急 / 较急 / 一般, with the words that made it so.

Rules first, because a dispatcher must be able to see *why* a complaint was flagged, and
because the dangerous cases are few and have fixed vocabulary:

* **紧急** (dispatch now): gas leaks (燃气泄漏, 煤气味), fire (起火, 火灾), collapse (坍塌, 倒塌,
  垮塌), flooding (内涝, 严重积水, 被淹), exposed live wires (电线裸露, 漏电), injured people (受伤,
  伤人), people trapped (被困, 困在电梯), missing manhole covers, falling objects.
* **较急** (within days): water/power/gas outages and burst pipes, sewage overflow and backflow
  (倒灌), ground subsidence (塌陷), concrete fire hazards (blocked fire lanes, flying-lead
  charging), structural cracks, falling tiles, failing lifts, polluted tap water, unpaid wages,
  fallen trees, broken traffic lights. Generic words (安全隐患, 危险, 刻不容缓) are not cues: on
  real messages they are rhetoric.
* **一般**: everything else.

Cue words are only evidence in context (lists in ``data/urgency_cues.json``, compiled once):

* idioms, metaphors and false friends are masked first (信息大爆炸, 救命路, 死亡门, 水深火热,
  被菜地淹没, 看着火车站, 挂断电话 ...);
* a cue negated just before it (没有燃气泄漏, 未造成人员受伤) does not count;
* a feared event does not count at all: a hypothetical in its clause (若/如果/一旦/万一/担心/
  可能/以免/如发生 ...), a fear a clause earlier in the sentence (我很担心，电线老化引起火灾), a
  consequence after it (发生火灾，后果不堪设想 / 无处逃生 / 谁来负责) or a bare 发生 without 了 or
  a date (发生火灾消防车进不来); nor does history (去年/曾经/当时/2018年/发生了3起火灾);
* an event cue (fire, collapse, flood ...) followed by 隐患/风险 is a risk (较急), one followed by
  扑灭 is over (较急); a person trapped counts only with a recency marker (正在/现在/刚刚/今天/
  目前 ...), an injury only with one that dates an *event* (正在/刚刚/今天/突然) or a call to
  come at once (请马上派人): 现在还有住户受伤生活不便 is a state, and on a message board injuries
  are mostly told as background;
* scope: an event cue in the opening (the title comes first) is 紧急, one buried in a long text
  is 紧急 only with a recency marker, else 较急;
* an outage is 较急, and 紧急 only when a duration of a day or more runs up to now (停水三天了,
  连续停水一个星期, 停水已经超过30个小时, 停水至今…近十天) for an estate (小区/居民/户 ...), it is
  not recurring, and the text is not about one household only (我们家还是停水);
* a long-standing state next to an event cue (垮塌到至今, 自被淹以来, 经常遭水淹, 年久失修) is 较急
  at most, and so is an event named in the title when the text says it was left unhandled (至今,
  得不到处理); once a mention has shown an event to be old, over, a risk or a defect, later bare
  mentions of it (为护垮塌河堤) are not a new emergency; history a clause earlier (早几年曾发生过…)
  does not count;
* a list of defects (多处塌陷, 到处积水) and an expected event (快要倒塌, 随时可能倒塌) are 较急
  unless part has already failed in the sentence (木头已塌); a precarious structure (摇摇欲坠) is
  紧急 only once part has failed or with people below it (下面还有人摆摊); a flood of sewage
  (被粪水淹) is 较急 (sewage in a home), subsidence (塌陷) is 较急 unless dated as an event
  (路面突然塌陷).

Measured on 804 real messages labelled by reading - a sample plus a census of every message the
previous rules flagged or a hazard net hits: ``bench/urgency_eval.py`` (labels and how they were
made: ``bench/data/urgency_labels.md``).

Combination with the classifier (``scores``, a label -> probability mapping), deliberately
simple so that it can be explained to a dispatcher:

* ``rule_score`` = 1.0 for a 紧急 trigger, 0.6 for a 较急 one, 0.0 for none;
* if the model has an urgency head (its labels include 紧急/较急/一般), ``model_score`` =
  P(紧急)·1.0 + P(较急)·0.6 + P(一般)·0.2, and can reach 紧急 on its own;
* otherwise the model's *category* scores give ``model_score`` = Σ P(c)·w(c) with w(c) from
  :data:`CATEGORY_WEIGHTS` (0.6 for utilities/safety categories, 0.35 for roads/sanitation,
  0.15 otherwise) - at most 较急, since a category alone never justifies dispatching now;
* ``score = max(rule_score, model_score)``; 紧急 if score ≥ 0.85, 较急 if ≥ 0.5, else 一般.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from common.errors import ConfigError

LEVELS = ("一般", "较急", "紧急")
LEVEL_SCORES = {"紧急": 1.0, "较急": 0.6, "一般": 0.2}
THRESHOLDS = {"紧急": 0.85, "较急": 0.5}

CUES_PATH = Path(__file__).resolve().parents[1] / "data" / "urgency_cues.json"
# A cue in the opening (the title comes first in joined title+text) speaks about the complaint
# itself; one buried in a long text is often background, a comparison or a hypothetical.
OPENING_CHARS = 150
# Titles are short: an event named within this many characters is the complaint's headline.
TITLE_CHARS = 40
# How far before a cue its clause is searched for negation / hypothetical / historical markers.
CONTEXT_BEFORE = 16
NEGATION_WIDTH = 5
RECENCY_AFTER = 8
# History (早几年曾发生过燃气爆炸，爆炸使…垮塌) is often told a clause or two before the cue.
SENTENCE_BEFORE = 40
# 停水至今…近十天无水用: the duration of an outage may follow a few words after the cue.
DURATION_AFTER = 16

_CLAUSE_END = re.compile(r"[，。！？；,!?;\n]")  # no ASCII "." : it is in dates and decimals
_SENTENCE_END = re.compile(r"[。！？!?\n]")


@dataclass(frozen=True)
class _Hazard:
    name: str
    level: str
    acute: bool  # an event (fire, collapse ...) rather than a standing condition
    # "" counts without a recency marker; "any": only with one (被困 is mostly told as history);
    # "event": only with one that dates an event, not a state (现在还有人受伤生活不便 is a state).
    needs_recency: str
    pattern: re.Pattern[str]
    ongoing_is_worse: bool = False  # 一直困在: duration makes a trapped person worse, not chronic
    hedged_unless_failed: bool = False  # 随时可能倒塌 is rhetoric unless part already failed
    # 摇摇欲坠 describes a state: an emergency once part has fallen or people are below it.
    needs_failure_or_exposure: bool = False
    milder_in: re.Pattern[str] | None = None  # context that makes it pressing (被淹 + 粪水: sewage)
    undated_level: str | None = None  # the level when an event-dated cue is not dated (塌陷: 较急)


@dataclass(frozen=True)
class _Cues:
    idioms: re.Pattern[str]
    negation: re.Pattern[str]
    hypothetical: re.Pattern[str]
    hypothetical_sentence: re.Pattern[str]
    hedge_after: re.Pattern[str]
    historical: re.Pattern[str]
    resolved_after: re.Pattern[str]
    recency: re.Pattern[str]
    recurring: re.Pattern[str]
    outage_scale: re.Pattern[str]
    outage_duration: re.Pattern[str]
    chronic: re.Pattern[str]
    neglect: re.Pattern[str]
    failed_before: re.Pattern[str]
    hazards: tuple[_Hazard, ...]
    event_recency: re.Pattern[str]
    dispatch_now: re.Pattern[str]
    consequence_after: re.Pattern[str]
    conditional_before: re.Pattern[str]
    defect_before: re.Pattern[str]
    prospective_before: re.Pattern[str]
    exposed: re.Pattern[str]
    one_household: re.Pattern[str]
    many_households: re.Pattern[str]


def _alternation(words: list[str]) -> re.Pattern[str]:
    # Longest first so that 没有 wins over 没; entries may themselves be (bounded) patterns.
    return re.compile("|".join(sorted(words, key=len, reverse=True)))


@lru_cache(maxsize=4)
def load_cues(path: Path = CUES_PATH) -> _Cues:
    """The cue lists of ``data/urgency_cues.json``, compiled once."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    hazards = tuple(
        _Hazard(
            h["name"],
            h["level"],
            bool(h.get("acute", False)),
            _recency_need(h.get("needs_recency", ""), path),
            re.compile("|".join(h["patterns"])),
            bool(h.get("ongoing_is_worse", False)),
            bool(h.get("hedged_unless_failed", False)),
            bool(h.get("needs_failure_or_exposure", False)),
            re.compile(h["milder_in"]) if h.get("milder_in") else None,
            h.get("undated_level"),
        )
        for h in raw["hazards"]
    )
    return _Cues(
        idioms=_alternation(raw["idioms"]),
        negation=_alternation(raw["negation"]),
        hypothetical=_alternation(raw["hypothetical"]),
        hypothetical_sentence=_alternation(raw["hypothetical_sentence"]),
        # Anchored by .match(text, end): no "^", and no copy of the rest of the text per cue.
        hedge_after=re.compile(".{0,4}(?:" + "|".join(raw["hedge_after"]) + ")"),
        historical=_alternation(raw["historical"]),
        resolved_after=re.compile(".{0,40}(?:" + "|".join(raw["resolved_after"]) + ")"),
        recency=_alternation(raw["recency"]),
        recurring=_alternation(raw["recurring"]),
        outage_scale=_alternation(raw["outage_scale"]),
        outage_duration=re.compile(raw["outage_duration"]),
        chronic=_alternation(raw["chronic"]),
        neglect=_alternation(raw["neglect"]),
        failed_before=re.compile(raw["failed_before"]),
        hazards=hazards,
        event_recency=_alternation(raw["event_recency"]),
        dispatch_now=_alternation(raw["dispatch_now"]),
        consequence_after=re.compile(".{0,5}(?:" + "|".join(raw["consequence_after"]) + ")"),
        conditional_before=re.compile("(?:" + "|".join(raw["conditional_before"]) + ")$"),
        defect_before=re.compile("(?:" + "|".join(raw["defect_before"]) + ")$"),
        prospective_before=re.compile("(?:" + "|".join(raw["prospective_before"]) + ")$"),
        exposed=re.compile(raw["exposed"]),
        one_household=_alternation(raw["one_household"]),
        many_households=_alternation(raw["many_households"]),
    )


def _recency_need(value: object, path: Path) -> str:
    # true (the older form) means any recency marker will do.
    if value is True:
        return "any"
    if value in ("", False, None):
        return ""
    if value in ("any", "event"):
        return str(value)
    raise ConfigError(f"{path}: a hazard's needs_recency must be true, 'any' or 'event', not {value!r}")


# Urgency weight of a category name (matched by substring), for model scores without an
# urgency head. Order matters: first match wins.
CATEGORY_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("燃气", 0.6), ("供水", 0.6), ("供电", 0.6), ("消防", 0.6), ("安全", 0.6), ("应急", 0.6), ("电梯", 0.6),
    ("排水", 0.35), ("交通", 0.35), ("道路", 0.35), ("市政", 0.35), ("环境", 0.35), ("城乡建设", 0.35),
    ("卫生", 0.35),
)  # fmt: skip
DEFAULT_CATEGORY_WEIGHT = 0.15


@dataclass
class Urgency:
    """Urgency of one complaint and the evidence for it."""

    level: str = "一般"
    score: float = 0.0
    triggers: list[str] = field(default_factory=list)  # words that counted
    hazards: list[str] = field(default_factory=list)  # their hazard types (燃气泄漏, 触电 ...)
    negated: list[str] = field(default_factory=list)  # trigger words that were negated
    rule_score: float = 0.0
    model_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def category_weight(category: str) -> float:
    for key, w in CATEGORY_WEIGHTS:
        if key in category:
            return w
    return DEFAULT_CATEGORY_WEIGHT


def _clause_before(text: str, pos: int, width: int = CONTEXT_BEFORE) -> str:
    chunk = text[max(0, pos - width) : pos]
    cut = None
    for m in _CLAUSE_END.finditer(chunk):
        cut = m.end()
    return chunk[cut:] if cut is not None else chunk


def _clause_after(text: str, end: int, width: int = RECENCY_AFTER) -> str:
    chunk = text[end : end + width]
    m = _CLAUSE_END.search(chunk)
    return chunk[: m.start()] if m else chunk


def _sentence_before(text: str, pos: int, width: int = SENTENCE_BEFORE) -> str:
    chunk = text[max(0, pos - width) : pos]
    cut = None
    for m in _SENTENCE_END.finditer(chunk):
        cut = m.end()
    return chunk[cut:] if cut is not None else chunk


def _sentence_after(text: str, end: int, width: int = SENTENCE_BEFORE) -> str:
    return _SENTENCE_END.split(text[end : end + width], maxsplit=1)[0]


def _mask_idioms(text: str, cues: _Cues) -> str:
    # Same length, so positions (opening scope) still refer to the original text.
    return cues.idioms.sub(lambda m: "□" * len(m.group()), text)


@dataclass(frozen=True)
class _TextFacts:
    """Facts about the whole text, found once per text rather than once per cue (which made a
    long text full of cues quadratic)."""

    one_household: bool  # 我们家还是停水状态 and no other household named
    first_scale: int | None  # end of the first 小区/居民/户 ... (an outage of many households)
    neglected: bool  # 至今 / 无人处理 ...: the complaint says it was left unhandled

    @classmethod
    def of(cls, text: str, cues: _Cues) -> _TextFacts:
        scale = cues.outage_scale.search(text)
        return cls(
            one_household=bool(cues.one_household.search(text)) and not cues.many_households.search(text),
            first_scale=scale.end() if scale else None,
            neglected=bool(cues.neglect.search(text)),
        )


def _outage_is_acute(text: str, start: int, end: int, cues: _Cues, facts: _TextFacts) -> bool:
    """A continuing outage of a whole estate (停水三天, 连续停水一个星期), not a recurring nuisance.

    Only a stated duration of days to weeks counts: "到现在还停电" alone was mostly a cut since
    last night on dev, and months (停水两个月) are a long-standing state, not an emergency.
    """
    before, after = _clause_before(text, start), _clause_after(text, end)
    window = text[max(0, start - CONTEXT_BEFORE) : end + DURATION_AFTER]
    duration = cues.outage_duration.search(window)
    if duration is None:
        return False
    # 停电四五天 told of last summer is history: the duration must run up to now (停水三天了, 至今).
    # 已经 inside the duration (停水已经超过30个小时) says the same as a trailing 了.
    tail = window[duration.end() : duration.end() + 2]
    if (
        "了" not in tail
        and "已" not in duration.group()
        and not cues.recency.search(text[max(0, start - CONTEXT_BEFORE * 2) : end + DURATION_AFTER])
    ):
        return False
    if cues.recurring.search(after):
        return False  # 停电不少于9次: counted occurrences, not one continuing outage
    if cues.recurring.search(before) and not cues.recency.search(before[-6:]):
        return False
    if facts.one_household:
        return False  # one flat's cut, however long
    # A scale word (小区, 居民 ...) in the opening or before the end of the cue's clause.
    return facts.first_scale is not None and facts.first_scale <= max(OPENING_CHARS, end + len(after))


def _speculative(word: str) -> bool:
    return "可能" in word or "会" in word


def rule_triggers(text: str) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(hazard, level, word) for each trigger that counts, and the negated trigger words."""
    found, negated = trigger_spans(text)
    return [(hz, level, word) for hz, level, word, _ in found], negated


def trigger_spans(text: str) -> tuple[list[tuple[str, str, str, int]], list[str]]:
    """As :func:`rule_triggers`, with each trigger's start offset (to show it in context)."""
    cues = load_cues()
    masked = _mask_idioms(text, cues)
    found: list[tuple[str, str, str, int]] = []
    negated: list[str] = []
    covered = bytearray(len(masked))  # characters an earlier (more severe) hazard explained
    facts = _TextFacts.of(masked, cues)
    for hz in cues.hazards:
        # Later mentions of a hazard are mostly the same event: once the text has shown it to be
        # old, over, a risk or a defect, a bare repeat (为护垮塌河堤) does not make it new.
        settled = False
        for m in hz.pattern.finditer(masked):
            start, end = m.span()
            if any(covered[start:end]):
                continue  # an earlier (more severe) hazard already explained these characters
            word = m.group()
            before = _clause_before(masked, start)
            # 没水/没电/没有井盖 carry the negation inside the trigger: only look before it.
            if cues.negation.search(before[-NEGATION_WIDTH:]) and not before.endswith(("不是没", "并非没")):
                negated.append(word)
                continue
            if cues.hypothetical.search(before) or cues.historical.search(before):
                continue  # 若出现火情 / 去年发生火灾: not an event now
            level, about_event = _level_in_context(hz, masked, start, end, cues, facts)
            if level is None:
                continue
            if hz.acute and level == hz.level and settled and not _event_dated(masked, start, end, cues):
                level = "较急"
            settled = settled or about_event
            covered[start:end] = b"\x01" * (end - start)
            found.append((hz.name, level, word, start))
    return found, negated


def _event_dated(text: str, start: int, end: int, cues: _Cues) -> bool:
    """An event dated now (正在/刚刚/今天), or a call to come at once (请马上派人)."""
    before, after = _clause_before(text, start), _clause_after(text, end)
    if cues.event_recency.search(before) or cues.event_recency.search(after):
        return True
    return bool(cues.dispatch_now.search(_sentence_after(text, end)))


def _level_in_context(
    hz: _Hazard, text: str, start: int, end: int, cues: _Cues, facts: _TextFacts
) -> tuple[str | None, bool]:
    """The level a cue earns where it stands (``None``: it does not count at all), and whether
    the context said something about the event itself (old, over, a risk, a defect) rather than
    only about where the cue stands in the text."""
    word = text[start:end]
    before, after = _clause_before(text, start), _clause_after(text, end)
    recent = bool(cues.recency.search(before) or cues.recency.search(after))
    sentence = _sentence_before(text, start)
    if cues.historical.search(sentence) and not recent:
        return None, False  # 早几年曾发生过燃气爆炸，爆炸使墙体垮塌: history a clause earlier
    if not hz.acute:
        if hz.name == "停水停电" and _outage_is_acute(text, start, end, cues, facts):
            return "紧急", False
        return hz.level, False
    if cues.hypothetical_sentence.search(sentence) and not recent:
        return None, False  # 我时时担心，家中的电器…造成火灾: a fear a clause earlier
    # 发生火灾，后果不堪设想 / 发生火灾无处逃生: a consequence names a feared event, not one now.
    if cues.consequence_after.match(text, end):
        return None, False
    if cues.conditional_before.search(before) and not recent and text[end : end + 1] not in "了过":
        return None, False  # a bare 发生火灾 (no 了, no date) is "should a fire break out"
    if hz.needs_recency == "any" and not recent:
        return None, False
    if hz.needs_recency == "event" and not _event_dated(text, start, end, cues):
        return hz.undated_level, hz.undated_level is not None
    if cues.hedge_after.match(text, end) or cues.resolved_after.match(text, end):
        return "较急", True  # 火灾隐患 is a risk, 起火后被扑灭 is over
    if start >= OPENING_CHARS and not recent:
        return "较急", False  # buried in a long text without saying it is happening now
    # 垮塌到至今 / 自被淹以来 / 经常遭水淹: a long-standing state, pressing at most.
    if not hz.ongoing_is_worse and (cues.chronic.search(before) or cues.chronic.search(after)):
        return "较急", True
    if cues.defect_before.search(before):
        return "较急", True  # 多处塌陷 / 到处积水: a list of defects, not an event
    failed = bool(cues.failed_before.search(sentence))
    # 快要倒塌 / 随时可能倒塌 alone is a worry; 木头已塌随时可能掉落 is imminent.
    if (
        cues.prospective_before.search(before) or (hz.hedged_unless_failed and _speculative(word))
    ) and not failed:
        return "较急", True
    whole = sentence + text[start:end] + _sentence_after(text, end)
    if hz.needs_failure_or_exposure and not failed and not cues.exposed.search(whole):
        return "较急", True  # 水泥栅栏摇摇欲坠 alone; 老房子摇摇欲坠，下面还有人摆摊 is an emergency
    if start < TITLE_CHARS and not recent and facts.neglected:
        return "较急", True  # a title event the text shows was left unhandled for long
    if hz.milder_in is not None and hz.milder_in.search(whole):
        return "较急", True  # 房屋被粪水淹: sewage in a home is pressing, not a flood emergency
    return hz.level, False


def model_urgency_score(
    scores: Mapping[str, float] | None, category_weights: Mapping[str, float] | None = None
) -> float | None:
    """The classifier's contribution (see the module docstring); ``None`` without scores."""
    if not scores:
        return None
    if any(k in LEVEL_SCORES for k in scores):
        total = sum(float(scores.get(k, 0.0)) for k in LEVEL_SCORES) or 1.0
        return sum(float(scores.get(k, 0.0)) * s for k, s in LEVEL_SCORES.items()) / total
    weights = category_weights or {}
    value = sum(float(p) * float(weights.get(c, category_weight(c))) for c, p in scores.items())
    return min(value, LEVEL_SCORES["较急"])


def level_of(score: float) -> str:
    if score >= THRESHOLDS["紧急"]:
        return "紧急"
    if score >= THRESHOLDS["较急"]:
        return "较急"
    return "一般"


def assess_urgency(
    text: str,
    scores: Mapping[str, float] | None = None,
    *,
    category_weights: Mapping[str, float] | None = None,
) -> Urgency:
    """Urgency of a complaint text, optionally combined with classifier ``scores``.

    >>> assess_urgency("小区楼道里有很浓的煤气味").level
    '紧急'
    >>> assess_urgency("经检查没有燃气泄漏，但是路灯不亮").level
    '一般'
    """
    found, negated = rule_triggers(text or "")
    rule_score = max((LEVEL_SCORES[lvl] for _, lvl, _ in found), default=0.0)
    model = model_urgency_score(scores, category_weights)
    score = max(rule_score, model or 0.0)
    level = level_of(score)
    # List the triggers of the deciding level first, each once.
    ordered = sorted(found, key=lambda t: -LEVEL_SCORES[t[1]])
    triggers = list(dict.fromkeys(w for _, _, w in ordered))
    hazards = list(dict.fromkeys(h for h, _, _ in ordered))
    return Urgency(
        level=level,
        score=round(score, 4),
        triggers=triggers,
        hazards=hazards,
        negated=list(dict.fromkeys(negated)),
        rule_score=rule_score,
        model_score=None if model is None else round(model, 4),
    )
