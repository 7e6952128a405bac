"""The rows of the sample log: ordinary complaints, urgent cases, planted incidents, callers,
replies, personal data and noise; and the newly labelled rows of the retraining example.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from data.samplegen.compose import Composer, Text
from data.samplegen.personal import NOISE_KINDS, PII, add_noise, pii_sentence
from data.samplegen.places import Place, PlacePicker, load_gazetteer
from data.samplegen.settings import (
    BACKGROUND_QUOTA,
    DEFAULT_SEED,
    DONE,
    END,
    EXPORT_TIME,
    LABELS,
    NEW_LABEL,
    NORMAL,
    OPEN,
    PRESSING,
    RENAMED_LABEL,
    URGENT,
)
from data.samplegen.templates import INCIDENTS, NEW_ISSUES, URGENT_CASES, Incident, Issue
from data.samplegen.timing import (
    DAY_HOURS,
    NIGHT_HOURS,
    NIGHT_SHARE,
    SEASON,
    day_weight,
    days,
    random_time,
    reply_time,
    spread,
)


@dataclass
class Row:
    """One complaint. ``body``, ``pii_text`` and ``closing`` make up ``text``."""

    time: dt.datetime
    title: str
    body: str
    closing: str
    style: str
    district: str
    street: str
    label: str
    urgency: str
    caller: str = ""
    pii_text: str = ""
    pii: list[PII] = field(default_factory=list)
    reply: dt.datetime | None = None
    likes: int = 0
    group: str = ""  # the incident this row belongs to, if any
    noise: str = ""
    id: str = ""

    @property
    def text(self) -> str:
        return self.body + self.pii_text + self.closing

    @property
    def status(self) -> str:
        return DONE if self.reply is not None else OPEN


def _hours_for(rng: random.Random, label: str) -> Sequence[float]:
    return NIGHT_HOURS if rng.random() < NIGHT_SHARE.get(label, 0.0) else DAY_HOURS


def _likes(rng: random.Random, style: str) -> int:
    """Likes of an ordinary complaint: web messages collect a few, now and then very many."""
    if style == "phone":
        return 0 if rng.random() < 0.8 else rng.randint(1, 3)
    return min(500, int(rng.paretovariate(1.2)) - 1)


class LogBuilder:
    """Builds the rows of a synthetic complaint log."""

    def __init__(self, rng: random.Random, gazetteer: dict) -> None:
        self.rng = rng
        self.places = PlacePicker(gazetteer, rng)
        self.composer = Composer(rng)
        self.callers: dict[str, None] = {}  # ids handed out so far (a dict keeps them ordered)

    @staticmethod
    def _row(issue: Issue, place: Place, time: dt.datetime, urgency: str, text: Text) -> Row:
        return Row(
            time,
            text.title,
            text.body,
            text.closing,
            text.style,
            place.district,
            place.street,
            issue.label,
            urgency,
        )

    def _urgency(self, issue: Issue) -> str:
        r = self.rng.random()
        return PRESSING if r < issue.pressing or r > 0.97 else NORMAL

    def background(
        self, quota: dict[str, int], period: Sequence[dt.date], issues: dict[str, list[Issue]] | None = None
    ) -> list[Row]:
        """Ordinary complaints: ``quota[label]`` rows per category over ``period``."""
        rng = self.rng
        rows = []
        for label, n in quota.items():
            weights = [
                day_weight(d, period[0], period[-1]) * SEASON.get(label, {}).get(d.month, 1.0) for d in period
            ]
            for day in spread(rng, period, weights, n):
                issue = rng.choice((issues or self.composer.by_label)[label])
                place = self.places.pick(issue.where)
                time = random_time(rng, day, _hours_for(rng, label))
                text = self.composer.compose(issue, place, cross=rng.random() < 0.1)
                rows.append(self._row(issue, place, time, self._urgency(issue), text))
        return rows

    def urgent(self) -> list[Row]:
        """The urgent cases (紧急): gas leaks, live wires, fire hazards, collapses, floods, injuries."""
        rng = self.rng
        period = days()
        weights = [day_weight(d) for d in period]
        rows = []
        for issue, n, dates in URGENT_CASES:
            for k in range(n):
                day = (
                    dt.date.fromisoformat(dates[k % len(dates)]) if dates else rng.choices(period, weights)[0]
                )
                place = self.places.pick(issue.where)
                time = random_time(rng, day)
                text = self.composer.compose(issue, place, tier=rng.choice(("medium", "long")), urgent=True)
                rows.append(self._row(issue, place, time, URGENT, text))
        return rows

    def incident(self, inc: Incident) -> list[Row]:
        """The complaints about one incident (the surge or a small cluster)."""
        rng = self.rng
        rows: list[Row] = []
        first_day = inc.schedule[0][0]
        for date, n, (h0, h1) in inc.schedule:
            hours = list(range(h0, h1 + 1))
            for _ in range(n):
                # Calls come in fastest right after the incident starts, then taper off.
                hour = rng.choices(hours, weights=[1 / (1 + 0.15 * i) for i in range(len(hours))])[0]
                day = dt.date.fromisoformat(date) + dt.timedelta(days=hour // 24)
                time = dt.datetime.combine(day, dt.time(hour % 24, rng.randint(0, 59), rng.randint(0, 59)))
                place = Place(inc.district, inc.street, "road", inc.name, rng.choice(inc.spots))
                what = inc.issue.what if date == first_day else inc.later
                text = self.composer.compose(
                    inc.issue, place, tier=rng.choice(inc.tiers), what=what, focused=True
                )
                row = self._row(inc.issue, place, time, self._urgency(inc.issue), text)
                row.group = inc.key
                rows.append(row)
        rows.sort(key=lambda r: r.time)
        first = [r for r in rows if r.time.date().isoformat() == first_day]
        picked = rng.sample(first, len(inc.urgent) + (inc.alt[2] if inc.alt else 0))
        for row, what in zip(picked, inc.urgent, strict=False):
            row.urgency = URGENT
            self._rewrite(row, inc, inc.issue, what=(what,))
        if inc.alt:
            alt_label, alt_what, _ = inc.alt
            alt_issue = dataclasses.replace(inc.issue, label=alt_label, what=alt_what)
            for row in picked[len(inc.urgent) :]:
                self._rewrite(row, inc, alt_issue, what=alt_what)
                row.label = alt_label
        caller = ""
        for i, row in enumerate(rows):
            if i < inc.same_caller:
                caller = caller or self.new_caller()
                row.caller = caller
            lo, hi = inc.likes
            row.likes = rng.randint(lo, hi) if row.style == "web" else rng.randint(0, lo)
        return rows

    def _rewrite(self, row: Row, inc: Incident, issue: Issue, what: Sequence[str]) -> None:
        place = Place(inc.district, inc.street, "road", inc.name, self.rng.choice(inc.spots))
        text = self.composer.compose(
            issue,
            place,
            style=row.style,
            tier="medium",
            what=what,
            focused=True,
            urgent=row.urgency == URGENT,
        )
        row.title, row.body, row.closing = text.title, text.body, text.closing

    # -- callers, replies, personal data, noise -------------------------------------------

    def new_caller(self) -> str:
        """A pseudonymous caller id not used before (``C000123``)."""
        while True:
            caller = f"C{self.rng.randint(1, 999_999):06d}"
            if caller not in self.callers:
                self.callers[caller] = None
                return caller

    def assign_callers(self, rows: Sequence[Row], repeat: float = 0.08) -> None:
        """Give every row without one a caller. Some people call again about their district;
        the complaints about one incident come from different people (unless planted otherwise)."""
        rng = self.rng
        seen: dict[str, list[str]] = {}
        for row in rows:
            if row.caller:
                continue
            earlier = seen.get(row.district, [])
            if not row.group and earlier and rng.random() < repeat:
                row.caller = rng.choice(earlier)
            else:
                row.caller = self.new_caller()
            if not row.group:
                seen.setdefault(row.district, []).append(row.caller)

    def finish(self, rows: Sequence[Row], export_time: dt.datetime, pii_share: float = 0.15) -> None:
        """Replies, status, likes, planted personal data and export noise for every row."""
        rng = self.rng
        for row in rows:
            incident = INCIDENTS.get(row.group)
            if incident is not None and incident.replied and row.urgency != URGENT:
                # One answer for everyone, once the incident was over.
                row.reply = max(
                    dt.datetime.fromisoformat(incident.replied) + dt.timedelta(minutes=rng.randint(0, 180)),
                    row.time + dt.timedelta(minutes=rng.randint(120, 960)),
                )
            else:
                row.reply = reply_time(rng, row.label, row.urgency, row.time)
            if row.reply > export_time:
                row.reply = None
            if not row.group:
                row.likes = _likes(rng, row.style)
            if rng.random() < pii_share:
                row.pii_text, row.pii = pii_sentence(rng, row.style, row.label)
            if rng.random() < 0.17:
                kinds = [k for k in NOISE_KINDS if k != "html" or row.style == "web"]  # web forms only
                row.noise = rng.choices(kinds, weights=[NOISE_KINDS[k] for k in kinds])[0]
                row.body = add_noise(row.body, row.noise, rng)
            if rng.random() < 0.04:
                row.street = ""  # the operator left it blank


@dataclass
class SampleLog:
    """The generated complaint log and the newly labelled rows for the retraining example."""

    rows: list[Row]
    new_rows: list[Row]


def _assign_ids(rows: Sequence[Row]) -> None:
    """Ticket numbers ``LJ`` + date + running number of the day, in time order."""
    per_day: dict[dt.date, int] = {}
    for row in rows:
        n = per_day[row.time.date()] = per_day.get(row.time.date(), 0) + 1
        row.id = f"LJ{row.time:%Y%m%d}{n:04d}"


def _sort(rows: list[Row]) -> None:
    rows.sort(key=lambda r: (r.time, r.title, r.body))


# Rare noise that must be in the log, and which rows it fits: two messages typed in traditional
# characters (one of them 噪音擾民) and one with full-width latin letters (Ａ区, ＫＴＶ).
PLANTED_NOISE: tuple[tuple[str, Callable[[Row], bool]], ...] = (
    ("traditional", lambda r: r.label == "噪音扰民" and "噪音扰民" in r.body),
    ("traditional", lambda r: r.style == "web" and r.label != "噪音扰民"),
    ("fullwidth", lambda r: any(c.isascii() and c.isalpha() for c in r.body)),
)


def _plant_noise(rows: Sequence[Row], rng: random.Random) -> None:
    """Add the noise of PLANTED_NOISE to rows that carry none yet (incident rows excepted)."""
    for kind, fits in PLANTED_NOISE:
        row = rng.choice([r for r in rows if not r.noise and not r.group and fits(r)])
        row.noise = kind
        row.body = add_noise(row.body, kind, rng)


def build(seed: int = DEFAULT_SEED, gazetteer: dict | None = None) -> SampleLog:
    """Generate the sample log and the retraining rows; depends only on ``seed``."""
    rng = random.Random(seed)
    builder = LogBuilder(rng, gazetteer or load_gazetteer())
    rows = builder.background(BACKGROUND_QUOTA, days())
    rows += builder.urgent()
    for incident in INCIDENTS.values():
        rows += builder.incident(incident)
    _sort(rows)
    builder.assign_callers(rows)
    builder.finish(rows, EXPORT_TIME)
    _plant_noise(rows, rng)
    _assign_ids(rows)

    # Newly labelled rows (first half of September): every old category, a new one, and the
    # renamed category under its new name.
    period = days(END + dt.timedelta(days=1), END + dt.timedelta(days=14))
    quota = {label: 7 if i < 2 else 6 for i, label in enumerate(LABELS)}
    quota[NEW_LABEL] = 24
    new_rows = builder.background(quota, period, {**builder.composer.by_label, NEW_LABEL: list(NEW_ISSUES)})
    _sort(new_rows)
    builder.assign_callers(new_rows)
    builder.finish(new_rows, dt.datetime.combine(period[-1] + dt.timedelta(days=1), dt.time()))
    for row in new_rows:
        if row.label == RENAMED_LABEL[0]:
            row.label = RENAMED_LABEL[1]
    _assign_ids(new_rows)
    return SampleLog(rows, new_rows)
