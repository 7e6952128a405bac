"""The bundled synthetic sample data: current, well-formed, and carrying what was planted."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path

import chinese_calendar
import jieba
import pandas as pd
import pytest

from data import DATA_DIR, SAMPLES_DIR, make_samples
from data.samplegen import places, settings
from ingest.options import ReaderOptions
from ingest.readers import read_complaints
from ingest.rejects import RejectsWriter
from nlp.pii import mask_pii
from nlp.text import normalize_text

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
RE_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
DANGER_WORDS = ("燃气", "漏气", "漏电", "电线", "火灾隐患", "塌陷", "内涝", "积水", "受伤")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("regenerated")
    make_samples.main(["--out", str(out / "samples")])
    return out


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return pd.read_csv(SAMPLES_DIR / "complaints.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((SAMPLES_DIR / "manifest.json").read_text(encoding="utf-8"))


def _checksum_ok(number: str) -> bool:
    total = sum(int(d) * w for d, w in zip(number[:17], ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11] == number[17].upper()


# -- the committed files are what the script generates --------------------------------------


def test_committed_samples_are_current(regenerated: Path) -> None:
    fresh = regenerated / "samples"
    assert sorted(p.name for p in SAMPLES_DIR.iterdir()) == sorted(p.name for p in fresh.iterdir())
    for path in sorted(fresh.iterdir()):
        assert (SAMPLES_DIR / path.name).read_bytes() == path.read_bytes(), (
            f"data/samples/{path.name} is stale: run python data/make_samples.py"
        )
    assert (DATA_DIR / "userdict.txt").read_bytes() == (regenerated / "userdict.txt").read_bytes(), (
        "data/userdict.txt is stale: run python data/make_samples.py"
    )


def test_samples_stay_small() -> None:
    assert sum(p.stat().st_size for p in SAMPLES_DIR.iterdir()) < 2_000_000


# -- complaints.csv ---------------------------------------------------------------------------


def test_log_columns_and_values(log: pd.DataFrame) -> None:
    assert list(log.columns) == list(settings.COLUMNS)
    assert 450 <= len(log) <= 550
    assert log["id"].is_unique
    assert log["caller"].str.fullmatch(r"C\d{6}").all()
    assert set(log["urgency"]) == {"紧急", "较急", "一般"}
    assert log["likes"].str.fullmatch(r"\d+").all()
    assert log["likes"].astype(int).max() >= 100  # hot issues
    assert (log["text"].str.len() > 512).sum() >= 3
    assert log["text"].str.len().min() >= 25
    assert log["caller"].duplicated().any()  # repeat callers


def test_categories_are_uneven_but_all_learnable(log: pd.DataFrame) -> None:
    counts = log["label"].value_counts()
    assert (counts >= 25).sum() >= 8
    assert counts.max() >= 2 * counts.min()


def test_time_span_and_calendar_patterns(log: pd.DataFrame) -> None:
    times = pd.to_datetime(log["time"])
    assert (times.max() - times.min()).days >= 90
    by_day = times.dt.date.value_counts()
    days = pd.Series(0, index=[d.date() for d in pd.date_range(times.min().date(), times.max().date())])
    days.update(by_day)
    weekday = pd.Series([d.weekday() for d in days.index], index=days.index)
    assert days[weekday == 0].mean() > days[weekday.isin([1, 2, 3, 4])].mean()  # busy Mondays
    assert days[weekday >= 5].mean() < 0.7 * days[weekday < 5].mean()  # quiet weekends
    # Statutory holidays (劳动节, 端午节) are quieter than working days.
    holidays = [
        d
        for d in days.index
        if chinese_calendar.get_holiday_detail(d)[1] and not chinese_calendar.is_workday(d)
    ]
    workdays = [d for d in days.index if chinese_calendar.is_workday(d)]
    assert holidays and days[holidays].mean() < 0.6 * days[workdays].mean()


def test_one_clear_surge_from_different_callers(log: pd.DataFrame, manifest: dict) -> None:
    dates = pd.to_datetime(log["time"]).dt.date
    counts = dates.value_counts()
    full = pd.Series(0, index=[d.date() for d in pd.date_range(dates.min(), dates.max())])
    full.update(counts)
    assert full.max() >= 3 * full.median()
    surge = manifest["surge"]
    assert full.idxmax().isoformat() in surge["dates"]
    rows = log[log["id"].isin(surge["ids"])]
    assert len(rows) == len(surge["ids"]) >= 30
    assert rows["caller"].is_unique
    assert (rows["district"] == surge["district"]).all()
    assert rows["text"].map(normalize_text).str.contains(surge["place"]).all()
    assert set(dates[rows.index].map(dt.date.isoformat)) == set(surge["dates"])
    # The rest of the log has no second surge.
    others = full.drop([dt.date.fromisoformat(d) for d in surge["dates"]])
    assert others.max() < 0.5 * full.max()


def test_incident_clusters(log: pd.DataFrame, manifest: dict) -> None:
    assert len(manifest["clusters"]) >= 4
    for cluster in manifest["clusters"]:
        rows = log[log["id"].isin(cluster["ids"])]
        assert len(rows) == len(cluster["ids"]) >= 3, cluster["key"]
        assert (rows["district"] == cluster["district"]).all(), cluster["key"]
        # Export noise (zero-width spaces, full-width digits) may sit inside the name.
        assert rows["text"].map(normalize_text).str.contains(cluster["place"]).all(), cluster["key"]
        assert rows["label"].nunique() == 1, cluster["key"]
    repeat = next(c for c in manifest["clusters"] if len(c["callers"]) < len(c["ids"]))
    assert log[log["id"].isin(repeat["ids"])]["caller"].value_counts().max() >= 3


def test_urgent_cases(log: pd.DataFrame, manifest: dict) -> None:
    urgent = log[log["urgency"] == "紧急"]
    assert 5 <= len(urgent) <= 30
    assert list(urgent["id"]) == manifest["urgent_ids"]
    for text in urgent["text"]:
        assert any(w in text for w in DANGER_WORDS), text


def test_replies(log: pd.DataFrame) -> None:
    times = pd.to_datetime(log["time"])
    replied = log["reply_time"] != ""
    assert (log.loc[replied, "status"] == "已办结").all()
    assert (log.loc[~replied, "status"] == "办理中").all()
    assert 0.8 < replied.mean() < 1.0
    hours = (pd.to_datetime(log.loc[replied, "reply_time"]) - times[replied]).dt.total_seconds() / 3600
    assert hours.min() > 0 and hours.max() <= 21 * 24
    assert times[~replied].min() >= pd.Timestamp("2026-08-01")  # only recent cases are open
    urgent = log.loc[replied, "urgency"] == "紧急"
    assert hours[urgent].median() < hours[~urgent].median() / 5


def test_resident_id_numbers_have_valid_checksums(log: pd.DataFrame, manifest: dict) -> None:
    found = [m.group() for text in log["text"] for m in RE_ID_NUMBER.finditer(text)]
    assert len(found) >= 5
    assert all(_checksum_ok(n) for n in found)
    assert sorted(found) == sorted(p["value"] for p in manifest["pii"] if p["kind"] == "id_card")


def test_every_planted_pii_item_is_masked(log: pd.DataFrame, manifest: dict) -> None:
    texts = dict(zip(log["id"], log["text"], strict=True))
    items = manifest["pii"]
    assert {p["kind"] for p in items} == {"mobile", "landline", "id_card", "plate", "email", "bank_card"}
    assert 0.10 < len({p["id"] for p in items}) / len(log) < 0.22
    for item in items:
        text = texts[item["id"]]
        assert item["value"] in text
        masked = mask_pii(text)
        assert item["value"] not in masked, item
        for digits in re.findall(r"\d{7,}", item["value"]):
            assert digits not in masked, item


def test_export_noise_is_present(log: pd.DataFrame) -> None:
    text = "\n".join(log["text"])
    assert "<br>" in text and "&nbsp;" in text
    assert re.search(r"[０-９]", text) and re.search(r"[Ａ-Ｚａ-ｚ]", text)
    assert "\u200b" in text
    assert "\t\t" in text or "\n\n" in text
    assert "噪音擾民" in text


def test_jsonl_holds_the_same_rows(log: pd.DataFrame) -> None:
    lines = (SAMPLES_DIR / "complaints.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == list(log["id"])
    assert [r["text"] for r in records] == list(log["text"])
    assert [r["reply_time"] or "" for r in records] == list(log["reply_time"])
    assert all(isinstance(r["likes"], int) for r in records)


# -- the GBK export ---------------------------------------------------------------------------


def test_gbk_export_decodes_as_gb18030_only() -> None:
    raw = (SAMPLES_DIR / "complaints_gbk.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gb18030")
    assert raw.decode("gbk") == text
    header = next(csv.reader([text.splitlines()[0]]))
    assert header == list(settings.GBK_HEADERS)
    assert "\r\n" in text


def test_gbk_export_reads_with_chinese_headers(log: pd.DataFrame) -> None:
    frame = read_complaints(SAMPLES_DIR / "complaints_gbk.csv", ReaderOptions(mask=False))
    assert len(frame) == settings.GBK_ROWS
    source = log.set_index("id").loc[frame["id"]]
    assert list(frame["label"]) == list(source["label"])
    assert list(frame["district"]) == list(source["district"])
    expected = pd.to_datetime(source["time"]).dt.floor("min")
    assert list(frame["time"]) == list(expected)
    assert frame["title"].str.len().gt(0).all()


# -- the malformed log ------------------------------------------------------------------------


def test_malformed_log_rejects_the_planted_rows(tmp_path: Path, manifest: dict) -> None:
    writer = RejectsWriter(tmp_path / "rejects.csv")
    with writer:
        frame = read_complaints(
            SAMPLES_DIR / "complaints_malformed.csv", ReaderOptions(require=("text", "label")), rejects=writer
        )
    expected = {r["row"]: r["reason"] for r in manifest["malformed_rejects"]}
    with open(tmp_path / "rejects.csv", encoding="utf-8-sig", newline="") as fh:
        rejected = {int(r["row"]): r["reason"] for r in csv.DictReader(fh)}
    assert sorted(rejected) == sorted(expected)
    for row, reason in expected.items():
        assert rejected[row].startswith(reason), (row, rejected[row])
    assert len(frame) == 20 - len(expected)
    # Without a label requirement only the empty-label row comes back.
    lenient = read_complaints(SAMPLES_DIR / "complaints_malformed.csv")
    assert len(lenient) == len(frame) + 1


# -- retraining example -----------------------------------------------------------------------


def test_new_labels_and_mapping(log: pd.DataFrame) -> None:
    new = pd.read_csv(SAMPLES_DIR / "new_labels.csv", dtype=str, keep_default_na=False)
    assert list(new.columns) == list(settings.COLUMNS)
    assert 70 <= len(new) <= 90
    added = set(new["label"]) - set(log["label"])
    mapping = pd.read_csv(SAMPLES_DIR / "label_mapping.csv", dtype=str)
    assert list(mapping.columns) == ["old", "new"]
    renamed = dict(zip(mapping["old"], mapping["new"], strict=True))
    assert set(renamed) <= set(log["label"])
    assert set(renamed.values()) <= set(new["label"])
    assert not set(renamed) & set(new["label"])
    brand_new = added - set(renamed.values())
    assert len(brand_new) == 1
    assert (new["label"] == brand_new.pop()).sum() >= 20
    assert not set(new["id"]) & set(log["id"])


# -- gazetteer and user dictionary ------------------------------------------------------------


def test_gazetteer_structure() -> None:
    gaz = json.loads((DATA_DIR / "gazetteer.json").read_text(encoding="utf-8"))
    assert gaz["synthetic"] is True
    assert isinstance(gaz["city"], str) and isinstance(gaz["city_aliases"], list)
    names: list[str] = [gaz["city"], *gaz["city_aliases"]]

    def entry(obj: dict, kinds: set[str]) -> None:
        assert isinstance(obj["name"], str) and obj["name"]
        assert obj["kind"] in kinds, obj
        assert isinstance(obj["aliases"], list)
        names.extend([obj["name"], *obj["aliases"]])

    assert len(gaz["districts"]) >= 4
    for district in gaz["districts"]:
        entry(district, {"区", "县"})
        streets = {s["name"] for s in district["streets"]}
        for street in district["streets"]:
            entry(street, {"街道", "镇"})
            assert street["communities"]
            for community in street["communities"]:
                entry(community, {"社区", "小区"})
        for road in district["roads"]:
            entry(road, {"大道", "路", "街", "巷", "公路"})
            assert road["streets"] and set(road["streets"]) <= streets, road
        for landmark in district["landmarks"]:
            entry(
                landmark,
                {"公园", "市场", "医院", "学校", "车站", "商场", "商业街", "体育场馆", "景区", "园区"},
            )
            assert landmark["street"] in streets, landmark
    assert len(names) == len(set(names)), "gazetteer names and aliases must be unique"


def test_userdict_parses_and_covers_terms_and_places() -> None:
    lines = (DATA_DIR / "userdict.txt").read_text(encoding="utf-8").splitlines()
    entries = {}
    for line in lines:
        m = re.fullmatch(r"(\S+) (\d+)(?: ([a-z]+))?", line)
        assert m, line
        entries[m[1]] = m[3]
    assert len(entries) == len(lines)
    terms = [w for w, pos in entries.items() if pos != "ns"]
    assert len(terms) >= 150
    for word in ("占道经营", "违章建筑", "渣土车", "噪音扰民", "油烟扰民", "井盖", "路灯不亮", "积水", "燃气泄漏",
                 "物业费", "垃圾清运", "共享单车", "流动摊贩", "广场舞", "夜间施工", "化粪池", "二次供水",
                 "电动车充电"):  # fmt: skip
        assert word in entries, word
    gaz = places.load_gazetteer()
    missing = [n for n in places.gazetteer_names(gaz) if n not in entries]
    assert not missing


def test_userdict_loads_in_jieba(tmp_path: Path) -> None:
    # A tokenizer with only our dictionary loads in milliseconds (jieba's own takes seconds).
    tok = jieba.Tokenizer(dictionary=str(DATA_DIR / "userdict.txt"))
    tok.tmp_dir = str(tmp_path)  # its cache file goes here
    words = tok.lcut("新民里小区门口流动摊贩占道经营，渣土车撒漏")
    assert {"新民里小区", "流动摊贩", "占道经营", "渣土车"} <= set(words)
