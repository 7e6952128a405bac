from __future__ import annotations

from pathlib import Path

from nlp.segment import TfidfKeywords, segment, stopwords, textrank_keywords


def test_user_dictionary_keeps_terms_whole(tmp_path: Path) -> None:
    userdict = tmp_path / "dict.txt"
    userdict.write_text("车占道 5 n\n渣土车 2000 n\n占道经营 2000 n\n江州市 1000 ns\n", encoding="utf-8")
    words = segment("江州市渣土车占道经营", userdict=str(userdict))
    assert words == ["江州市", "渣土车", "占道经营"]


def test_shipped_user_dictionary_has_city_terms() -> None:
    words = segment("流动摊贩占道经营，渣土车夜间施工噪音扰民")
    assert "占道经营" in words and "渣土车" in words


def test_content_only_drops_stopwords_and_keeps_placeholders_whole() -> None:
    words = segment("市民来电反映，电话[手机号]，小区垃圾堆积")
    assert "[手机号]" in words and "反映" in words
    content = segment("市民来电反映，电话[手机号]，小区垃圾堆积", content_only=True)
    assert "反映" not in content and "，" not in content and "[手机号]" not in content
    assert "垃圾" in content
    assert "相关部门" in stopwords()


def test_tfidf_keywords_prefer_distinctive_words() -> None:
    corpus = [
        "小区垃圾堆积无人清运",
        "夜间施工噪音影响休息",
        "道路井盖缺失存在隐患",
        "夜间施工噪音扰民",
    ] * 5 + ["共享单车乱停乱放堵塞盲道"]
    kw = TfidfKeywords().fit(corpus)
    top = [w for w, _ in kw.keywords("共享单车乱停乱放堵塞盲道，夜间施工", 3)]
    assert not {"夜间", "施工", "夜间施工"} & set(top)
    assert set(top) & {"共享", "单车", "盲道", "堵塞", "共享单车", "乱停乱放"}
    scores = dict(kw.keywords("共享单车夜间施工", 10))
    # The shipped dictionary keeps 夜间施工 whole; jieba's default splits it.
    common = scores.get("夜间施工", scores.get("施工"))
    assert max(scores.get("共享单车", 0), scores.get("单车", 0)) > common
    assert kw.top_terms(corpus[:4], 2)


def test_textrank_keywords_of_one_text() -> None:
    text = "市民来电反映，江北区人民路有工地夜间施工，噪音很大，工地渣土车还把泥土撒在路上，工地施工噪音影响休息。"
    words = [w for w, _ in textrank_keywords(text, 5)]
    assert "工地" in words
    assert not set(words) & stopwords()
