"""Complaint texts: an issue at a place, told as an operator transcript or a web message."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from data.samplegen.places import Place
from data.samplegen.templates import (
    DEMANDS,
    DURATIONS,
    ISSUES,
    PHONE_CLOSINGS,
    PHONE_HISTORY,
    PHONE_NARRATIVE,
    PHONE_NOTES,
    PHONE_OPENERS,
    PHONE_TITLES,
    RESIDENT_BACKGROUND,
    RESIDENT_INTROS,
    URGENT_TITLES,
    WEB_BACKGROUND,
    WEB_FEELINGS,
    WEB_HISTORY,
    WEB_INTROS,
    WEB_NARRATIVE,
    WEB_OPENERS,
    WEB_PLEAS,
    WEB_SHORT_TAILS,
    WEB_TITLES,
    Issue,
)

# Target lengths in characters (before personal data is added) of each tier; operators write
# shorter than citizens do, and only citizens write the huge letters.
TIERS = {
    "phone": {"short": (28, 60), "medium": (65, 150), "long": (150, 260), "very_long": (260, 420)},
    "web": {"short": (28, 60), "medium": (70, 170), "long": (170, 340), "very_long": (340, 500),
            "huge": (530, 680)},
}  # fmt: skip
TIER_WEIGHTS = {
    "phone": {"short": 14, "medium": 50, "long": 30, "very_long": 6},
    "web": {"short": 10, "medium": 36, "long": 34, "very_long": 14, "huge": 6},
}


@dataclass
class Text:
    """A composed complaint: title, message body and the closing sentence (kept apart so that
    noise is applied to the body only and personal data goes between body and closing)."""

    title: str
    body: str
    closing: str
    style: str  # "phone" (operator transcript) or "web" (citizen's own message)


def _fill(template: str, slots: dict[str, str]) -> str:
    return template.format(**slots)


def _sentence(s: str) -> str:
    return s if s.endswith(("。", "！", "？", "，")) else s + "。"


class Composer:
    """Builds complaint texts from an :class:`Issue` and a :class:`Place`."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.by_label: dict[str, list[Issue]] = {}
        for issue in ISSUES:
            self.by_label.setdefault(issue.label, []).append(issue)

    def slots(self, issue: Issue, place: Place, spot: str) -> dict[str, str]:
        """Values for the template slots of one complaint."""
        rng = self.rng
        return {
            "p": spot,
            "pn": place.name,
            "dn": place.district,
            "sn": place.street,
            "d": rng.choice(DURATIONS),
            "t": rng.choice(issue.times),
            "n": str(rng.randint(3, 9)),
        }

    def compose(
        self,
        issue: Issue,
        place: Place,
        *,
        style: str | None = None,
        tier: str | None = None,
        what: Sequence[str] | None = None,
        cross: bool = False,
        focused: bool = False,
        urgent: bool = False,
    ) -> Text:
        """One complaint about ``issue`` at ``place``.

        ``what`` overrides the opening sentences (incident follow-ups); ``cross`` adds a
        sentence about another category's problem (an ambiguous case); ``focused`` keeps to
        the problem's own details (a sudden incident has no history and no side issues);
        ``urgent`` is a focused report of a danger.
        """
        rng = self.rng
        style = style or rng.choices(("phone", "web"), weights=(60, 40))[0]
        weights = TIER_WEIGHTS[style]
        tier = tier or rng.choices(list(weights), weights=list(weights.values()))[0]
        phone = style == "phone"
        where = place.full if phone else place.spot
        slots = self.slots(issue, place, where)
        focused = focused or urgent
        short = rng.choice(issue.short)
        titles = URGENT_TITLES if urgent else PHONE_TITLES if phone else WEB_TITLES
        title = _fill(rng.choice(titles), {**slots, "s": short})
        lo, hi = TIERS[style][tier]
        target = rng.randint(lo, hi)
        if tier == "short":
            if phone:
                opener, tail = rng.choice(PHONE_OPENERS), rng.choice(PHONE_CLOSINGS)
                if len(opener + where + short + tail) < lo:
                    opener = rng.choice([o for o in PHONE_OPENERS if o])
                return Text(title, f"{opener}{where}{short}，", tail, style)
            opener, tail = "", _fill(rng.choice(WEB_SHORT_TAILS), slots)
            if len(where + short + tail) < lo:
                where = place.full
            if len(where + short + tail) < lo:
                opener = rng.choice(("您好，", "你好，", "反映一下，"))
            return Text(title, f"{opener}{where}{short}，", tail, style)

        # Each section holds (sentence, separator after it).
        sections: dict[str, list[tuple[str, str]]] = {
            k: [] for k in ("intro", "background", "what", "more", "after")
        }
        sections["what"].append((_fill(rng.choice(what or issue.what), slots), rng.choice("，。")))
        candidates = self._candidates(issue, place, slots, phone, cross, focused)
        opener = rng.choice(PHONE_OPENERS) if phone else rng.choice(WEB_OPENERS)
        if not phone:
            resident = RESIDENT_INTROS if place.kind == "community" else ()
            intro = _fill(rng.choice(WEB_INTROS + resident), slots)
            if intro:
                sections["intro"].append((intro, ""))
        closing = rng.choice(PHONE_CLOSINGS) if phone else rng.choice(WEB_PLEAS)

        def render() -> str:
            pairs = [p for k in ("intro", "background", "what", "more", "after") for p in sections[k]]
            text = opener + "".join(s + sep for s, sep in pairs[:-1]) + _sentence(pairs[-1][0])
            return text.replace("，，", "，")

        for section, sentence in candidates:
            if len(render()) + len(closing) >= target:
                break
            # Details run on with a comma now and then; everything else ends its sentence.
            sep = rng.choice("，。。") if section == "more" else "。"
            sections[section].append((sentence, sep))
        return Text(title, render(), closing, style)

    def _candidates(
        self, issue: Issue, place: Place, slots: dict[str, str], phone: bool, cross: bool, focused: bool
    ) -> list[tuple[str, str]]:
        """Sentences that may be added to a complaint, in the order they are taken."""
        rng = self.rng
        details = [_fill(s, slots) for s in rng.sample(issue.details, len(issue.details))]
        impacts = [_fill(s, slots) for s in rng.sample(issue.impacts, len(issue.impacts))]
        if focused:
            return [("more", s) for s in details] + [("after", s) for s in impacts]
        out: list[tuple[str, str]] = []
        if cross:
            other = rng.choice([i for i in ISSUES if i.label != issue.label and place.kind in _kinds(i)])
            other_slots = {**slots, "p": place.name, "t": rng.choice(other.times)}
            joiner = rng.choice(("另外，", "此外，", "同时，"))
            out.append(("more", joiner + _fill(rng.choice(other.what), other_slots)))
        # Details first, then why it matters and what was tried, then everything else.
        out += [("more", s) for s in details[:2]]
        out.append(("after", impacts[0]))
        history = PHONE_HISTORY if phone else WEB_HISTORY
        out += [("after", _fill(s, slots)) for s in rng.sample(history, 2)]
        out += [("more", s) for s in details[2:]]
        if phone:
            out.append(("after", rng.choice(PHONE_NOTES)))
        else:
            out.append(("after", rng.choice(WEB_FEELINGS)))
            resident = RESIDENT_BACKGROUND if place.kind == "community" else ()
            out.append(("background", _fill(rng.choice(WEB_BACKGROUND + resident), slots)))
        demands = rng.sample(DEMANDS[issue.label], min(3, len(DEMANDS[issue.label])))
        if phone:
            out.append(("after", "来电人建议" + "，".join(demands[:2])))
        else:
            numbered = "；".join(f"{n}是{d}" for n, d in zip("一二三", demands, strict=False))
            out.append(("after", f"具体建议如下：{numbered}"))
        out += [("after", s) for s in impacts[1:]]
        narrative = PHONE_NARRATIVE if phone else WEB_NARRATIVE
        out += [("after", s) for s in rng.sample(narrative, 2 if phone else len(narrative))]
        # Long letters go on to related problems at the same place.
        siblings = [
            i for i in self.by_label.get(issue.label, []) if i.key != issue.key and place.kind in _kinds(i)
        ]
        for sib in rng.sample(siblings, min(3, len(siblings))):
            sib_slots = {**slots, "p": place.name, "t": rng.choice(sib.times)}
            out.append(
                (
                    "more",
                    rng.choice(("另外，", "还有，", "除此之外，")) + _fill(rng.choice(sib.what), sib_slots),
                )
            )
            out += [("more", _fill(s, sib_slots)) for s in rng.sample(sib.details, 2)]
        if not phone:
            out.append(("after", rng.choice([f for f in WEB_FEELINGS if f not in {s for _, s in out}])))
        return out


def _kinds(issue: Issue) -> set[str]:
    return {w.partition(":")[0] for w in issue.where}
