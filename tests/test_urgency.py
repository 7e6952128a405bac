"""Urgency rules: context (negation, hypotheticals, history, idioms), scope and recency.

The sentences are synthetic, written for these tests; none is copied from real messages.
"""

from __future__ import annotations

import pytest

from nlp.urgency import assess_urgency, load_cues, rule_triggers

FILLER = "我们小区的物业服务一直很差，业主多次反映停车收费和绿化维护的问题，物业总是推诿拖延。" * 4


# -- the issue's four false positives ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "在这个信息大爆炸的时代，希望政府网站多公开一些办事指南",
        "这条救命路要成为死亡门了，请尽快拓宽改造",
        "小区消防通道窄，若楼里出现火情，消防车根本开不进来",
        "门前那条小路被菜地淹没了，出行很不方便",
    ],
)
def test_issue_false_positives_are_not_urgent(text: str) -> None:
    assert assess_urgency(text).level != "紧急"


def test_idioms_and_metaphors_do_not_trigger_at_all() -> None:
    assert assess_urgency("在这个信息大爆炸的时代，希望政府网站多公开一些办事指南").level == "一般"
    assert assess_urgency("这条救命路要成为死亡门了，请尽快拓宽改造").level == "一般"
    assert assess_urgency("居民生活在水深火热之中，请领导关注").level == "一般"
    assert assess_urgency("噪音就像爆炸声一样，晚上睡不着").level == "一般"


# -- clear true positives ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "三号楼楼道里煤气味很浓，可能是管道漏气",
        "五栋二楼正在着火，浓烟从窗户冒出来",
        "路口电线裸露在外，小孩每天从旁边经过",
        "滨江路的井盖丢失了，晚上看不清",
        "我们小区已经停水三天了，至今没人来抢修",
        "楼下配电箱漏电，刚刚有人触电",
        "菜市场旁边的老房子摇摇欲坠，下面还有人摆摊",
        "小区地下车库现在被淹了，水已经没过车轮",
    ],
)
def test_clear_emergencies_fire(text: str) -> None:
    assert assess_urgency(text).level == "紧急"


@pytest.mark.parametrize(
    "text",
    [
        "小区每天晚上停水，已经持续一个月",
        "包工头拖欠我们十几个工人的工资半年了",
        "楼道里很多电动车飞线充电",
        "小区消防通道被车辆长期占用",
        "外墙瓷砖大面积脱落",
        "厕所反水，粪水流进了卧室",
    ],
)
def test_pressing_cases_are_pressing(text: str) -> None:
    assert assess_urgency(text).level == "较急"


# -- negation / hypotheticals / history ----------------------------------------------------------


def test_negation() -> None:
    u = assess_urgency("经燃气公司检查，没有燃气泄漏")
    assert u.level == "一般" and u.negated == ["燃气泄漏"]
    assert assess_urgency("幸好并未发生火灾").level == "一般"
    assert assess_urgency("这次施工未造成人员受伤").level == "一般"


@pytest.mark.parametrize(
    "text",
    [
        "电动车停在楼道，万一发生火灾，后果不堪设想",
        "如果下大雨，一楼就会被淹",
        "房子裂缝越来越大，担心哪天会倒塌",
        "请尽快整改，以免发生触电",
        "一旦燃气泄漏，整栋楼都有危险",
    ],
)
def test_hypotheticals_are_not_emergencies(text: str) -> None:
    assert assess_urgency(text).level != "紧急"


@pytest.mark.parametrize(
    "text",
    [
        "去年小区发生过一次火灾，物业至今没有整改消防设施",
        "2018年这里曾经塌方，希望这次修路注意",
        "小区已经发生了3起火灾，请相关部门重视",
        "当时隔壁的房子就倒塌了，我们现在很害怕",
    ],
)
def test_history_is_not_an_emergency(text: str) -> None:
    assert assess_urgency(text).level != "紧急"


def test_fire_put_out_is_not_an_emergency() -> None:
    assert assess_urgency("楼下饭店厨房起火，保安及时扑灭了，但店里煤气罐很多").level == "较急"


def test_injury_counts_only_when_it_is_happening_now() -> None:
    assert assess_urgency("这个路口经常有人摔伤，请装护栏").level != "紧急"
    assert assess_urgency("现在路口有人被砸伤，请马上派人").level == "紧急"


# -- scope and recency ---------------------------------------------------------------------------


def test_cue_buried_in_a_long_text_needs_a_recency_marker() -> None:
    buried = FILLER + "楼下起火，一直没有人管。"
    assert assess_urgency(buried).level == "较急"
    assert assess_urgency(FILLER + "现在楼下起火了。").level == "紧急"
    # The same words in the opening count fully.
    assert assess_urgency("楼下起火，一直没有人管。" + FILLER).level == "紧急"


def test_recurring_outage_is_pressing_and_continuing_outage_is_urgent() -> None:
    assert assess_urgency("小区一个月停电不少于9次").level == "较急"
    assert assess_urgency("小区停水两天了，居民没法做饭").level == "紧急"
    assert assess_urgency("停水两天了").level == "较急"  # no sign that many people are affected


# -- the cue file --------------------------------------------------------------------------------


def test_cues_are_loaded_once_from_the_data_file() -> None:
    assert load_cues() is load_cues()
    names = [h.name for h in load_cues().hazards]
    assert "燃气泄漏" in names and "欠薪" in names


def test_rule_triggers_reports_hazards() -> None:
    found, negated = rule_triggers("三号楼楼道里煤气味很浓")
    assert found == [("燃气泄漏", "紧急", "煤气味")] and negated == []


# -- round 2: ongoing now vs long-standing ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "村口河堤垮塌。今年春天大雨冲垮后一直没人管，垮塌到至今",  # headline event, text says it is old
        "小区电梯掉落人员受伤无人处理，物业推诿",
        "老房子经常遭水淹，请求纳入征收",
        "这座旧塔年久失修，开裂有倒塌危险",
        "路边护栏锈迹斑斑，随时可能倒塌",  # a worry: nothing has failed yet
        "早几年曾发生过燃气爆炸，爆炸使那栋楼墙体垮塌，请尽快改造",
        "去年夏天主电缆烧坏，三百多户停电四五天，电器烧毁",
    ],
)
def test_long_standing_or_past_is_not_an_emergency(text: str) -> None:
    assert assess_urgency(text).level != "紧急"


@pytest.mark.parametrize(
    "text",
    [
        "屋顶木头已塌，随时可能会掉落砸伤行人",  # part already failed: imminent
        "小区目前连续停水一个星期了，居民无法做饭",
        "片区几百户居民停水至今，已经近十天无水用了",
        "我爱人到目前为止一直困在那个传销窝点里",
    ],
)
def test_ongoing_now_is_an_emergency(text: str) -> None:
    assert assess_urgency(text).level == "紧急"


def test_outage_since_last_night_is_pressing_not_urgent() -> None:
    assert assess_urgency("小区昨晚开始停水停电，到现在还没来").level == "较急"


# -- round 3: feared events, defects, prospects, states, scale -------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "电表箱装在入户门口，发生火灾无处逃生",  # a consequence names the feared event
        "楼道里堆满杂物，一旦着火后果不堪设想",
        "楼道堆满纸箱，发生火灾谁来负责",
        "电动车如发生爆炸，整栋楼都受影响",  # 如 + 发生: a condition
        "我一直很担心，楼道里的电线老化引起火灾",  # the fear is a clause earlier
        "难道要等倒塌了才来管吗",
    ],
)
def test_feared_events_do_not_count(text: str) -> None:
    assert assess_urgency(text).level == "一般"


def test_a_bare_event_verb_is_a_condition_but_a_dated_one_is_an_event() -> None:
    assert assess_urgency("小区消防通道被堵，发生火灾消防车进不来").level == "较急"  # the lane only
    assert assess_urgency("五楼刚刚发生火灾，浓烟很大").level == "紧急"


@pytest.mark.parametrize(
    ("text", "hazard"),
    [
        ("每天看着火车站广场上的积水", "火灾"),  # 着火 inside 看着火车站
        ("对方直接挑起火头，唆使大家上访", "火灾"),
        ("客服公然挂断电话，拒绝受理", "停水停电"),
    ],
)
def test_false_friends_are_masked(text: str, hazard: str) -> None:
    assert hazard not in assess_urgency(text).hazards


def test_a_list_of_defects_is_not_a_collapse() -> None:
    assert assess_urgency("交房时发现重大质量问题（多处塌陷，到处漏水）").level != "紧急"


def test_an_expected_collapse_is_pressing_until_something_has_failed() -> None:
    assert assess_urgency("家里房屋破旧快要倒塌，申请建房").level == "较急"
    assert assess_urgency("围墙已经倒了一截，剩下的快要倒塌").level == "紧急"


def test_a_precarious_structure_is_urgent_only_with_people_below() -> None:
    assert assess_urgency("院子里的水泥栅栏摇摇欲坠，很不安全").level == "较急"
    assert assess_urgency("院子里的水泥栅栏摇摇欲坠，下面每天有学生经过").level == "紧急"


def test_injuries_need_an_event_now_not_a_state() -> None:
    assert assess_urgency("到目前为止，还有住户受伤生活不便，物业不管").level != "紧急"
    assert assess_urgency("父亲住院抢救，现在昏迷不醒，随时有生命危险").level != "紧急"
    assert assess_urgency("楼上掉下花盆，刚刚有人被砸伤").level == "紧急"


def test_a_state_since_an_event_is_long_standing() -> None:
    assert assess_urgency("房屋自1月被淹以来，街道久拖不决").level == "较急"


def test_a_repeated_mention_of_an_old_event_stays_old() -> None:
    # The first mention shows the collapse is months old; the bare repeat does not make it new.
    assert assess_urgency("河堤垮塌到至今没人修，垮塌的河堤有六七米高").level == "较急"


def test_sewage_and_backflow_are_pressing_not_a_flood_emergency() -> None:
    assert assess_urgency("房子被粪水淹了，臭气熏天").level == "较急"
    assert assess_urgency("地下车库雨水倒灌，车都泡了").level == "较急"


def test_subsidence_is_pressing_unless_it_just_happened() -> None:
    assert assess_urgency("桥头与道路连接处塌陷严重，车辆经过很颠").level == "较急"
    assert assess_urgency("路面突然塌陷，出现一个大坑").level == "紧急"


def test_outage_duration_in_hours_and_the_scale_of_one_household() -> None:
    assert assess_urgency("小区停水已经超过30个小时，居民没水做饭").level == "紧急"
    assert assess_urgency("小区停水已经超过10个小时，居民没水做饭").level == "较急"
    assert assess_urgency("枫林小区停水7天了！我们家到现在还是停水状态，物业说在修").level == "较急"
    assert assess_urgency("枫林小区停水7天了！几百户居民到现在还没有水").level == "紧急"


def test_a_bad_recency_setting_is_a_config_error(tmp_path) -> None:
    import json

    from common.errors import ConfigError
    from nlp.urgency import CUES_PATH

    raw = json.loads(CUES_PATH.read_text(encoding="utf-8"))
    raw["hazards"][0]["needs_recency"] = "sometimes"
    bad = tmp_path / "cues.json"
    bad.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ConfigError, match="needs_recency"):
        load_cues(bad)
