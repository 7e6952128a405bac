"""Event extraction: locations, time mentions, urgency, the combined EventInfo."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from common.errors import InputFileError
from nlp.events import EVENT_COLUMNS, EventExtractor, events_for_texts, extract_event
from nlp.places.extract import LocationExtractor, same_place
from nlp.places.gazetteer import Gazetteer, load_gazetteer
from nlp.places.normalize import anchors_match, normalize_place
from nlp.timeexpr import cn_to_int, extract_times
from nlp.urgency import assess_urgency

GAZ = {
    "city": "江州市",
    "city_aliases": ["江州"],
    "districts": [
        {
            "name": "江北区",
            "kind": "区",
            "aliases": ["江北"],
            "streets": [
                {
                    "name": "滨江街道",
                    "kind": "街道",
                    "aliases": [],
                    "communities": [
                        {"name": "翠苑小区", "kind": "小区", "aliases": ["翠苑"]},
                        {"name": "望江社区", "kind": "社区", "aliases": []},
                    ],
                }
            ],
            "roads": [{"name": "滨江路", "kind": "路", "aliases": [], "streets": ["滨江街道"]}],
            "landmarks": [{"name": "江北公园", "kind": "公园", "aliases": [], "street": "滨江街道"}],
        },
        {
            "name": "城南区",
            "kind": "区",
            "aliases": ["城南"],
            "streets": [{"name": "新民街道", "kind": "街道", "aliases": [], "communities": []}],
            "roads": [{"name": "人民路", "kind": "路", "aliases": [], "streets": ["新民街道"]}],
            "landmarks": [],
        },
    ],
}


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer.from_dict(GAZ)


# -- location ---------------------------------------------------------------------------------


def test_gazetteer_compound_brings_its_street_and_district(gaz: Gazetteer) -> None:
    info = LocationExtractor(gaz).extract("翠苑小区门口垃圾成堆，好几天没人清运")
    assert (info.district, info.street, info.community) == ("江北区", "滨江街道", "翠苑小区")
    assert info.key == "江北区|滨江街道|翠苑"
    assert info.source == "gazetteer"


def test_gazetteer_alias_and_landmark(gaz: Gazetteer) -> None:
    ex = LocationExtractor(gaz)
    assert ex.extract("江北公园南门晚上广场舞太吵").landmark == "江北公园"
    # An alias that is only the stem of a longer name (城南路) is not the district 城南区.
    assert ex.extract("城南路上有个大坑").district == ""


def test_patterns_without_gazetteer_on_anonymised_names() -> None:
    ex = LocationExtractor(Gazetteer.empty())
    info = ex.extract(
        "A5区劳动东路魅力之城小区临街门面油烟扰民，楼下餐馆油烟直排", "A5区魅力之城小区油烟扰民"
    )
    assert info.district == "A5区"
    assert info.community == "魅力之城小区" and info.anchor == "魅力之城"
    assert info.road == "劳动东路"
    assert info.key == "A5区|魅力之城"
    town = ex.extract("反映A7县春华镇金鼎村水泥路到户问题")
    assert (town.district, town.street, town.community) == ("A7县", "春华镇", "金鼎村")
    street = ex.extract("住在西湖街道，金星北路和平路口经常堵车")
    assert street.street == "西湖街道"
    assert street.road == "金星北路"
    assert ex.extract("K8县城区停水").district == "K8县"


def test_generic_words_are_not_places() -> None:
    ex = LocationExtractor(Gazetteer.empty())
    info = ex.extract("我们小区门口的道路坏了，这条路没人修，市政府也不管，809路公交太挤")
    assert info.community == "" and info.road == "" and info.anchor == ""


def test_two_part_compound_names_and_same_place() -> None:
    ex = LocationExtractor(Gazetteer.empty())
    a = ex.extract("A市伊景园滨河苑捆绑销售车位")
    b = ex.extract("滨河苑开发商强制捆绑车位")
    assert a.anchor == "伊景园滨河苑"
    assert same_place(a, b)
    assert not same_place(a, ex.extract("A3区兰亭湾畔小区违规开餐饮"))
    assert anchors_match("万科魅力之城", "魅力之城") and not anchors_match("城", "魅力之城")
    assert normalize_place("绿地海外滩二期") == "绿地海外滩"


def test_district_hint_fills_unknown_district(gaz: Gazetteer) -> None:
    info = LocationExtractor(gaz).extract("人民路上井盖丢了", district_hint="城南")
    assert info.district == "城南区" and info.road == "人民路"


def test_gazetteer_errors_name_the_file(tmp_path) -> None:
    bad = tmp_path / "g.json"
    bad.write_text('{"districts": [{"kind": "区"}]}', encoding="utf-8")
    with pytest.raises(InputFileError, match=r"g\.json.*districts\[0\]"):
        Gazetteer.load(bad)
    with pytest.raises(InputFileError, match="--gazetteer"):
        load_gazetteer(tmp_path / "missing.json")
    assert not load_gazetteer("none")


def test_shipped_gazetteer_loads() -> None:
    g = load_gazetteer("default")
    if not g:
        pytest.skip("data/gazetteer.json not shipped")
    assert any(p.level == "district" for places in g.entries.values() for p in places)


# -- time mentions ------------------------------------------------------------------------------

REF = datetime(2019, 3, 12, 9, 30)  # a Tuesday


def _one(text: str, ref: datetime | None = REF):
    mentions = extract_times(text, ref).mentions
    assert mentions, text
    return mentions[0]


def test_relative_days_resolve_against_the_complaint_time() -> None:
    m = _one("昨晚十点开始施工")
    assert m.start == datetime(2019, 3, 11, 22, 0) and m.kind == "range" and m.end == REF
    m = _one("今天凌晨三点还在响")
    assert m.start == datetime(2019, 3, 12, 3, 0)
    m = _one("上周五下午又停电了")
    assert m.start == datetime(2019, 3, 8, 13, 0)


def test_dates_ranges_and_durations() -> None:
    m = _one("3月5日起一直停水")
    assert (m.kind, m.start, m.end) == ("range", datetime(2019, 3, 5), REF)
    m = _one("12月5号晚上")  # a past December: the year before the complaint
    assert m.start.date().isoformat() == "2018-12-05"
    m = _one("2019年2月28日至3月3日")
    assert m.start == datetime(2019, 2, 28) and m.end.date().isoformat() == "2019-03-03"
    m = _one("半个月来都这样")
    assert m.kind == "duration" and (REF - m.start).days == 15
    m = _one("连续三天夜间施工")
    assert m.recurring and (REF - m.start).days == 3


def test_recurring_with_time_of_day() -> None:
    info = extract_times("每天凌晨两点都有渣土车经过", REF)
    assert info.recurring
    assert info.mentions[0].time_of_day == "02:00"
    assert extract_times("每晚11点以后还在唱歌", REF).mentions[0].time_of_day == "23:00"


def test_without_reference_only_absolute_dates_resolve() -> None:
    assert _one("昨晚十点", None).start is None
    assert _one("2019年3月5日", None).start == datetime(2019, 3, 5)
    assert cn_to_int("二十三") == 23 and cn_to_int("两") == 2
    assert extract_times("5号楼漏水", REF).mentions == []


# -- urgency -------------------------------------------------------------------------------------


def test_urgency_rules_and_triggers() -> None:
    u = assess_urgency("小区楼道里有很浓的煤气味")
    assert u.level == "紧急" and "燃气泄漏" in u.hazards and u.triggers == ["煤气味"]
    assert assess_urgency("路边电线裸露在外，孩子经常经过").level == "紧急"
    assert assess_urgency("停水两天了").level == "较急"
    assert assess_urgency("夜间施工噪音扰民").level == "一般"


def test_urgency_negation_and_hedging() -> None:
    u = assess_urgency("经检查没有燃气泄漏，但是路灯不亮")
    assert u.level == "一般" and u.negated == ["燃气泄漏"]
    assert assess_urgency("万幸无人受伤").level == "一般"
    assert assess_urgency("存在火灾隐患").level == "较急"  # a risk, not a fire


def test_urgency_combined_with_classifier_scores() -> None:
    # A category alone can raise an ordinary complaint to 较急 but never to 紧急 ...
    u = assess_urgency("路灯不亮", {"供水供电燃气": 0.95, "市容环卫": 0.05})
    assert u.level == "较急" and u.model_score is not None
    # ... while an urgency head can.
    assert assess_urgency("路灯不亮", {"紧急": 0.95, "一般": 0.05}).level == "紧急"
    # Rules win when they are stronger.
    assert assess_urgency("着火了", {"市容环卫": 1.0}).level == "紧急"


# -- EventInfo ---------------------------------------------------------------------------------


def test_extract_event_and_frame(gaz: Gazetteer) -> None:
    ex = EventExtractor(gaz)
    info = extract_event(
        {
            "id": "1",
            "title": "翠苑小区燃气泄漏",
            "text": "昨晚开始楼道有很浓的煤气味",
            "time": "2026-07-14 08:00",
        },
        extractor=ex,
    )
    assert info.location.community == "翠苑小区"
    assert info.urgency.level == "紧急"
    assert info.times.start == datetime(2026, 7, 13, 19, 0)
    assert info.keywords and "翠苑" not in info.terms  # place names are not problem words
    frame = pd.DataFrame(
        {
            "id": ["a", "b"],
            "title": ["滨江路井盖丢失", ""],
            "text": ["滨江路有个井盖丢了，很危险", "江北公园晚上广场舞太吵"],
            "time": pd.to_datetime(["2026-05-01 10:00", "2026-05-02 21:00"]),
            "district": ["", ""],
        }
    )
    out = ex.extract_frame(frame, progress=False)
    assert list(out.columns) == list(EVENT_COLUMNS)
    assert out.loc[0, "road"] == "滨江路" and out.loc[0, "urgency"] == "紧急"
    assert out.loc[1, "landmark"] == "江北公园"


def test_events_for_texts_is_json_ready_and_masks(gaz: Gazetteer) -> None:
    import json

    out = events_for_texts(
        ["翠苑小区停水，联系电话13812345678", "江北公园"],
        times=["2026-05-01 10:00", None],
        scores=[{"供水供电燃气": 0.9}, None],
        extractor=EventExtractor(gaz),
    )
    assert len(out) == 2
    json.dumps(out, ensure_ascii=False)
    assert out[0]["location"]["community"] == "翠苑小区"
    assert out[0]["urgency"] == "较急"
    assert "13812345678" not in json.dumps(out, ensure_ascii=False)
    with pytest.raises(ValueError, match="times"):
        events_for_texts(["a"], times=[None, None])
