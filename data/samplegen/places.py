"""Places of the fictional city: drawn from ``data/gazetteer.json`` and phrased as callers do."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from data.samplegen.settings import DISTRICT_WEIGHTS, GAZETTEER_PATH


@dataclass(frozen=True)
class Place:
    """Where a complaint is about: a compound, a road or a landmark of the gazetteer.

    ``spot`` is the place as a caller names it (``新民里小区3栋``, ``人民南路与新民路交叉口``);
    ``name`` is the bare gazetteer name used in titles.
    """

    district: str
    street: str
    kind: str  # "community", "road" or "landmark"
    name: str
    spot: str

    @property
    def full(self) -> str:
        """Operator style: district + street + spot (``城南区新民街道新民里小区3栋``)."""
        return f"{self.district}{self.street}{self.spot}"


def load_gazetteer(path: Path = GAZETTEER_PATH) -> dict:
    """The gazetteer as parsed JSON (schema in data/README.md)."""
    return json.loads(path.read_text(encoding="utf-8"))


def gazetteer_names(gazetteer: dict) -> list[str]:
    """Every name of the gazetteer, aliases included, in file order."""
    out: list[str] = [gazetteer["city"], *gazetteer.get("city_aliases", [])]
    for d in gazetteer["districts"]:
        out += [d["name"], *d["aliases"]]
        for s in d["streets"]:
            out += [s["name"], *s["aliases"]]
            for c in s["communities"]:
                out += [c["name"], *c["aliases"]]
        for entry in (*d["roads"], *d["landmarks"]):
            out += [entry["name"], *entry["aliases"]]
    return out


class PlacePicker:
    """Draws random places from the gazetteer and phrases them the way callers do."""

    def __init__(self, gazetteer: dict, rng: random.Random) -> None:
        self.rng = rng
        self.districts = {d["name"]: d for d in gazetteer["districts"]}

    def district(self) -> str:
        """A district name, weighted by call volume."""
        names = list(self.districts)
        return self.rng.choices(names, weights=[DISTRICT_WEIGHTS.get(n, 1.0) for n in names])[0]

    def pick(self, where: Sequence[str]) -> Place:
        """A place of one of the kinds in ``where`` (``community``, ``road``, ``landmark`` or
        ``landmark:公园|市场`` for landmarks of those gazetteer kinds)."""
        rng = self.rng
        d = self.districts[self.district()]
        options: list[tuple[str, dict, str]] = []  # (kind, entry, street)
        for w in where:
            kind, _, sub = w.partition(":")
            if kind == "community":
                options += [("community", c, s["name"]) for s in d["streets"] for c in s["communities"]]
            elif kind == "road":
                options += [("road", r, "") for r in d["roads"]]
            elif kind == "landmark":
                wanted = sub.split("|") if sub else None
                options += [
                    ("landmark", lm, lm["street"])
                    for lm in d["landmarks"]
                    if wanted is None or lm["kind"] in wanted
                ]
        if not options:  # e.g. no market in this district: any landmark will do
            options = [("landmark", lm, lm["street"]) for lm in d["landmarks"]]
        kind, entry, street = rng.choice(options)
        street = street or rng.choice(entry["streets"])
        return Place(d["name"], street, kind, entry["name"], self._spot(kind, entry, d, street))

    def _spot(self, kind: str, entry: dict, district: dict, street: str) -> str:
        rng = self.rng
        name = entry["name"]
        if kind == "community":
            if entry["kind"] == "社区":
                return name + rng.choice(("", "", "辖区内", "附近"))
            building, unit = rng.randint(1, 18), rng.randint(1, 4)
            forms = (
                "",
                "",
                f"{building}栋",
                f"{building}栋{unit}单元",
                f"{building}号楼",
                f"{rng.choice('ABC')}区{building}栋",
                "东门",
                "北门附近",
                "南区",
            )
            return name + rng.choice(forms)
        if kind == "road":
            others = [r["name"] for r in district["roads"] if r["name"] != name]
            marks = [lm["name"] for lm in district["landmarks"] if lm["street"] == street]
            forms = ["", "", f"{rng.randint(1, 300)}号附近", "中段", f"与{rng.choice(others)}交叉口"]
            if marks:
                forms.append(f"{rng.choice(marks)}路段")
            return name + rng.choice(forms)
        return name + rng.choice(("门口", "附近", "东侧", "西门外", "周边", "对面", ""))
