"""How urgent a complaint is: 紧急 / 较急 / 一般, with the words that made it so.

Rules first, because a dispatcher must be able to see *why* a complaint was flagged, and
because the dangerous cases are few and have fixed vocabulary:

* **紧急** (dispatch now): gas leaks (燃气泄漏, 煤气味), fire (起火, 火灾), collapse (塌陷, 坍塌),
  flooding (内涝, 严重积水, 被淹), exposed live wires (电线裸露, 漏电), injured people (受伤, 伤人),
  people trapped (被困, 困在电梯), missing manhole covers, falling objects.
* **较急** (same day): water/power/gas outages and burst pipes, sewage overflow, hazards
  (安全隐患), fallen trees, broken traffic lights, explicit urgency words (紧急, 刻不容缓).
* **一般**: everything else.

Negation is handled for the obvious cases: a trigger preceded in its clause by 没有/没/无/未/
不是/并非/排除 ... (没有燃气泄漏, 未造成人员受伤, 无人受伤) does not count. A trigger that is only a
possibility (火灾隐患, 是否有燃气泄漏, 万一起火) counts one level lower (较急).

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

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

LEVELS = ("一般", "较急", "紧急")
LEVEL_SCORES = {"紧急": 1.0, "较急": 0.6, "一般": 0.2}
THRESHOLDS = {"紧急": 0.85, "较急": 0.5}

# (hazard, level, pattern). Patterns are plain regular expressions over normalised text.
RULES: tuple[tuple[str, str, str], ...] = (
    ("燃气泄漏", "紧急", r"(?:燃气|煤气|天然气|液化气|液化石油气)(?:管道?)?(?:泄漏|泄露|外泄|漏气)|漏气|(?:煤气|燃气|天然气|液化气)味|闻到.{0,4}(?:煤气|燃气|天然气)"),
    ("火灾", "紧急", r"起火|着火|火灾|失火|火情|燃烧起来|冒浓烟|浓烟|爆炸|明火"),
    ("塌陷", "紧急", r"塌陷|坍塌|倒塌|塌方|垮塌|地陷|天坑|下沉.{0,3}严重|沉降严重"),
    ("内涝", "紧急", r"内涝|严重积水|积水严重|积水.{0,4}(?:齐腰|过膝|半米|一米)|水淹|被淹|淹没|倒灌|洪水"),
    ("触电", "紧急", r"电线裸露|裸露的?电线|漏电|触电|电线.{0,3}(?:掉落|垂落|断落|拖地)|高压线.{0,4}(?:断|落|垂)|电缆.{0,3}(?:裸露|破损)|电箱.{0,3}(?:漏电|破损|敞开)"),
    ("人员受伤", "紧急", r"受伤|伤人|砸伤|摔伤|撞伤|咬伤|烫伤|死亡|身亡|出血|流血|昏迷|送医|送往医院|生命危险|危及生命|出人命|闹出人命"),
    ("人员被困", "紧急", r"被困|困在电梯|电梯.{0,4}(?:困人|关人|关住)|(?:老人|小孩|儿童|孩子|学生).{0,2}困在"),
    ("井盖缺失", "紧急", r"井盖.{0,2}(?:缺失|丢失|被盗|不见|破损|松动|塌|掀开)|没有井盖|无井盖"),
    ("高空坠物", "紧急", r"高空坠物|高空抛物|坠落|砸下来|掉下来砸|摇摇欲坠|随时(?:可能)?(?:倒塌|掉落|坠落)"),
    ("停水停电", "较急", r"停水|断水|没水|无水可用|停电|断电|没电|停气|断气"),
    ("爆管漏水", "较急", r"爆管|(?:水管|管道|自来水管|供水管).{0,2}(?:爆裂|破裂|爆了|断裂)|大量漏水|漏水严重"),
    ("污水外溢", "较急", r"污水.{0,2}(?:外溢|横流|漫|冒)|化粪池.{0,3}(?:满|溢|冒)|下水道.{0,3}(?:堵|冒|反)|粪水|粪便外排"),
    ("安全隐患", "较急", r"安全隐患|重大隐患|险情|危险|威胁.{0,4}安全|安全威胁|事故"),
    ("树木倒伏", "较急", r"树木?.{0,2}(?:倒伏|倒下|折断|倾斜|断枝)|断枝"),
    ("交通设施故障", "较急", r"(?:红绿灯|信号灯).{0,3}(?:坏|不亮|故障|失灵)|路面.{0,3}(?:大坑|坑洞|塌)|大坑"),
    ("紧急诉求", "较急", r"紧急|十万火急|刻不容缓|迫在眉睫|急需|救命"),
)  # fmt: skip
_COMPILED = tuple((h, lvl, re.compile(p)) for h, lvl, p in RULES)

_CLAUSE_END = re.compile(r"[，。！？；,.!?;\n]")
_NEGATION = re.compile(r"没有|没|无|未|不是|并非|不存在|排除|并未|从未|不会|非")
_HEDGE_BEFORE = re.compile(
    r"是否|有没有|会不会|担心|害怕|怕|万一|一旦|如果|若|假如|防止|预防|避免|以免|防范|谨防|消除|杜绝"
)
_HEDGE_AFTER = re.compile(r"^.{0,2}(?:隐患|风险|危险|的可能|可能性|之虞|预警|演练|检查|宣传|安全教育)")

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


def _clause_before(text: str, pos: int, width: int = 8) -> str:
    start = max(0, pos - width)
    chunk = text[start:pos]
    cut = None
    for m in _CLAUSE_END.finditer(chunk):
        cut = m.end()
    return chunk[cut:] if cut is not None else chunk


def rule_triggers(text: str) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(hazard, level, word) for each trigger that counts, and the negated trigger words."""
    found: list[tuple[str, str, str]] = []
    negated: list[str] = []
    seen: set[tuple[int, int]] = set()
    for hazard, level, pattern in _COMPILED:
        for m in pattern.finditer(text):
            span = (m.start(), m.end())
            if any(a < span[1] and span[0] < b for a, b in seen):
                continue  # an earlier (more severe) rule already explained these characters
            word = m.group()
            before = _clause_before(text, m.start())
            # 没水/没电/没有井盖 carry the negation inside the trigger: only look before it.
            if _NEGATION.search(before[-5:]) and not before.endswith(("不是没", "并非没")):
                negated.append(word)
                continue
            lvl = level
            if lvl == "紧急" and (_HEDGE_BEFORE.search(before) or _HEDGE_AFTER.match(text[m.end() :])):
                lvl = "较急"  # a risk, not an event: 火灾隐患, 万一起火
            seen.add(span)
            found.append((hazard, lvl, word))
    return found, negated


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
