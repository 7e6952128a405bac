"""Issue 12 (hardening), items 1, 2 and 8 (part): linear-time patterns, masking gaps, empty times.

The timing tests compare one function with itself on the same adversarial pattern at two
sizes: the cost per KB of the large text may be a few times that of the small one (noise on a
shared machine), never the 10-20x that a quadratic pattern gives. No absolute time is asserted
beyond a small allowance for timer noise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlp.events import EventExtractor
from nlp.pii import find_pii, mask_pii, valid_resident_id
from nlp.places.extract import LocationExtractor
from nlp.places.gazetteer import load_gazetteer
from nlp.places.normalize import normalize_place
from nlp.text import normalize_text
from nlp.timeexpr import extract_times

REF = datetime(2020, 1, 10, 12, 0)


def make_id(prefix17: str) -> str:
    return next(prefix17 + c for c in "0123456789X" if valid_resident_id(prefix17 + c))


# -- item 2: masking gaps -------------------------------------------------------------------------

ID = make_id("43010219850715123")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("联系我138.1234.5678谢谢", "联系我[手机号]谢谢"),
        ("联系我+86 138.1234.5678谢谢", "联系我[手机号]谢谢"),
        ("车牌湘a12345违停", "车牌[车牌号]违停"),
        ("车牌湘a·12345违停", "车牌[车牌号]违停"),
        ("新能源湘ad12345违停", "新能源[车牌号]违停"),
        ("车牌湘a1234学违停", "车牌[车牌号]违停"),
        (f"身份证{ID[:6]} {ID[6:14]} {ID[14:]}，", "身份证[身份证号]，"),
        (f"身份证{ID[:6]} {ID[6:10]} {ID[10:14]} {ID[14:]}，", "身份证[身份证号]，"),
        (f"身份证{ID[:6]}-{ID[6:14]}-{ID[14:]}，", "身份证[身份证号]，"),
    ],
)
def test_masking_gaps_are_closed(text: str, masked: str) -> None:
    assert mask_pii(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "2019.05.03我打过12345，也打过110报警",
        "2019-05-03 10:30在3号楼1201室，面积89.5平方米，费用1200.50元",
        "工单号20190503123456，第20190503号文件",
        "金额138.12元，共138.12345678万元",  # one dot is an amount, not a dotted phone
        "云backup服务器，新app上线，湘abcde",  # pinyin/English after a province character
        f"订单{ID[:6]} {ID[6:14]} {ID[14:17]}{'1' if ID[17] != '1' else '2'}",  # checksum fails
    ],
)
def test_masking_negatives_stay(text: str) -> None:
    assert mask_pii(text) == text


def test_email_after_an_id_is_masked_too() -> None:
    # The e-mail used to be dropped whole because its match overlapped the ID before it.
    assert mask_pii(f"{ID}.zhang@qq.com") == "[身份证号][邮箱]"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("邮箱zhang.san@example.com，", "邮箱[邮箱]，"),
        ("a@b.com.x@c.com", "[邮箱][邮箱]"),
        ("a@b@c.com", "a@[邮箱]"),
        ("x" * 300 + "@qq.com", "[邮箱]"),
        ("a@b.c 和 a@ 和 @qq.com", "a@b.c 和 a@ 和 @qq.com"),
    ],
)
def test_email_semantics_kept(text: str, masked: str) -> None:
    assert mask_pii(text) == masked


def test_many_spans_are_all_found() -> None:
    text = "，".join(f"139{i:08d}" for i in range(5000))
    spans = find_pii(text)
    assert len(spans) == 5000 and {s.kind for s in spans} == {"mobile"}


# -- item 8 (part): empty time cells ----------------------------------------------------------------


@pytest.mark.parametrize("missing", [None, pd.NaT, float("nan")])
def test_extract_times_without_a_timestamp(missing: object) -> None:
    info = extract_times("上周五开始漏水，2019年3月5日也报过，昨晚十点又漏", missing)  # type: ignore[arg-type]
    by_text = {m.text: m for m in info.mentions}
    assert by_text["上周五开始"].start is None
    assert by_text["2019年3月5日"].start == datetime(2019, 3, 5)


def test_extract_times_refuses_a_non_date() -> None:
    with pytest.raises(TypeError, match="ref must be"):
        extract_times("昨晚", "2020-01-01")  # type: ignore[arg-type]


def test_extract_times_still_resolves_timestamps() -> None:
    info = extract_times("昨晚十点", pd.Timestamp(REF))
    assert info.start == datetime(2020, 1, 9, 22, 0)


def test_extract_frame_with_empty_times() -> None:
    # What the reader hands `hotline events` for a log whose time column is mostly empty.
    records = pd.DataFrame(
        {
            "id": ["1", "2", "3"],
            "title": ["", "", ""],
            "text": ["A5区魅力之城小区昨晚有煤气味", "上周五开始一直漏水", "3月5日起噪音扰民"],
            "time": pd.to_datetime(["2019-08-01 09:00", None, None]),
            "district": ["", "", ""],
            "label": ["", "", ""],
        }
    )
    frame = EventExtractor("none").extract_frame(records, progress=False)
    assert frame.loc[0, "event_start"] == datetime(2019, 7, 31, 19, 0)
    assert frame.loc[1, "event_start"] is None or pd.isna(frame.loc[1, "event_start"])
    assert [m["text"] for m in frame.loc[2, "time_mentions"]] == ["3月5日起"]


def test_extract_event_with_blank_time() -> None:
    ex = EventExtractor("none")
    for missing in ("", None, pd.NaT, float("nan")):
        info = ex.extract({"id": "1", "text": "上周五开始一直漏水", "time": missing})
        assert info.time is None and info.times.start is None


def test_events_cli_on_a_log_with_empty_times(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hotline.cli import app

    log = tmp_path / "log.csv"
    log.write_text(
        "id,time,title,text,label\n"
        "1,2020/1/6 12:09:38,噪音,A3区小区昨晚施工噪音,城乡建设\n"
        "2,,,A5区魅力之城小区昨晚有很浓的煤气味,城乡建设\n"
        "3,,,上周五开始一直漏水,城乡建设\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        app, ["events", str(log), "--store", str(tmp_path / "ev.db"), "--gazetteer", "none"]
    )
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    assert "3 processed" in result.output


LABELED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "teddy2020" / "labeled.csv"


@pytest.mark.slow
@pytest.mark.skipif(not LABELED.exists(), reason="teddy2020 dataset not found")
def test_extract_frame_on_teddy_rows_without_time() -> None:
    from ingest.readers import ComplaintReader

    # 4,876 of the 5,267 rows have no time; `hotline events` crashed on the first of them.
    rows = pd.concat([c.records for c in ComplaintReader(LABELED)])
    records = pd.concat([rows[rows["time"].notna()].head(50), rows[rows["time"].isna()].head(300)])
    frame = EventExtractor("none").extract_frame(records, progress=False)
    assert len(frame) == 350
    assert frame["event_start"].head(50).notna().any()


# -- item 1: linear time ------------------------------------------------------------------------------

# Pieces that the patterns care about: e-mail and number characters, separators, whitespace the
# space collapse leaves alone, tag starts, date and clock words, place suffixes, plates.
PIECES = [
    "a", "Z", "1", "0", "9", ".", "-", "_", "+", "%", "@", " ", "  ", "\n", "\t", "\u2028", "\u1680",
    "<", "<br", "<p ", "</", ">", "&", "[", "]", "123456", "138", "1234", "@qq.com", "x", "X",
    "，", "。", "、", "：", "年", "月", "日", "号", "点", "时", "分", "半", "一", "十", "两", "2019",
    "晚上", "昨天", "上周", "周五", "每天", "连续", "多", "以来", "起", "至",
    "湘", "A", "京", "市", "区", "A3区", "小区", "花园", "路", "街道", "阳光", "的", "在",
]  # fmt: skip

SMALL = 10_000
LARGE = 200_000
# Cost per KB at LARGE may be this many times the cost at SMALL; quadratic is LARGE/SMALL = 20.
FACTOR = 5.0
NOISE_S = 0.25


def _adversarial(head: str, body: str, tail: str, n: int) -> str:
    k = max(1, n - len(head) - len(tail))
    return head + (body * (k // len(body) + 1))[:k] + tail


def _seconds(fn: Callable[[str], object], text: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - t0)
    return best


def _assert_linear(
    fn: Callable[[str], object], head: str, body: str, tail: str, sizes: tuple[int, int] = (SMALL, LARGE)
) -> None:
    n_small, n_large = sizes
    fn(_adversarial(head, body, tail, 1000))  # warm caches (jieba, compiled patterns)
    small = _seconds(fn, _adversarial(head, body, tail, n_small), 3)
    allowed = FACTOR * (n_large / n_small) * small + NOISE_S
    text = _adversarial(head, body, tail, n_large)
    large = _seconds(fn, text, 1)
    # The small size is a best of 3; on a shared machine one slow run of the large size is
    # not evidence of a quadratic pattern (that is 4x over the bound, every time): re-time it.
    if large > allowed:
        large = min(large, _seconds(fn, text, 2))
    assert large <= allowed, (
        f"{fn.__name__}: {large:.3f}s for {n_large // 1000} KB vs {small:.4f}s for {n_small // 1000} KB "
        f"({large / n_large * 1000:.4f} vs {small / n_small * 1000:.4f} s/KB) on {head!r}+{body!r}*+{tail!r}"
    )


# Half of the bodies are a single run-forming piece and half of the heads and tails a piece
# that arms a detector, since the patterns went wrong on long runs next to a trigger.
RUNS = [
    "1",
    "a",
    "a.",
    "1-",
    ".",
    " ",
    "\n",
    "\u2028",
    "<br",
    "<p ",
    "一二三",
    "阳光花园小区",
    "阳光小区，",
    "3月5日",
]
TRIGGERS = ["@", "", "123456", "@qq.com", "<", "</", "湘A", "A3区", "阳", "期", "昨天", "2019年"]
_pieces = st.lists(st.sampled_from(PIECES), min_size=1, max_size=4).map("".join)
_edge = st.sampled_from(TRIGGERS) | _pieces
_adversary = st.tuples(_edge, st.sampled_from(RUNS) | _pieces, _edge)

_LOCATIONS = LocationExtractor(load_gazetteer("none"))


def _location(text: str) -> object:
    return _LOCATIONS.extract(text, "")


def _times(text: str) -> object:
    return extract_times(text, REF)


def _event(text: str) -> object:
    return _EVENTS.extract({"id": "1", "text": text, "time": REF})


_EVENTS = EventExtractor("none")

LINEAR_FUNCS = {
    "mask_pii": mask_pii,
    "normalize_text": normalize_text,
    "extract_times": _times,
    "location": _location,
    "normalize_place": normalize_place,
}

# Inputs that were quadratic or worse before this change (seconds at 20 KB: e-mail 0.7 s,
# 1,000 spaces 16 s in extract_times, 2,000 characters of 阳光花园小区 20 s in the location).
KNOWN_BAD = [
    ("mask_pii", "", "a", "@"),
    ("mask_pii", "@", "1", ""),
    ("mask_pii", "123456", "a.", "@"),
    ("mask_pii", "", "13812345678，", ""),
    ("extract_times", "", " ", ""),
    ("extract_times", "", "\n", ""),
    ("normalize_text", "<", " ", ""),
    ("normalize_text", "", "<br", ""),
    ("normalize_text", "a", "\u1680", "a"),
    ("location", "", "阳光花园小区", ""),
    ("location", "", "阳光小区，", ""),
    ("normalize_place", "阳", "一二三", ""),
]


@pytest.mark.parametrize(("name", "head", "body", "tail"), KNOWN_BAD)
def test_known_bad_inputs_are_linear(name: str, head: str, body: str, tail: str) -> None:
    # Smaller than the property test below so that it runs by default: 5 -> 50 KB is a factor
    # of 10 per KB for a quadratic pattern, and these were far worse than quadratic.
    _assert_linear(LINEAR_FUNCS[name], head, body, tail, sizes=(5_000, 50_000))


# The masking and normalisation run on every request body and log line: checked by default
# (a few seconds); the extractors take longer per 200 KB and run with -m slow.
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(adversary=_adversary, name=st.sampled_from(["mask_pii", "normalize_text"]))
def test_masking_is_linear_on_adversarial_text(adversary: tuple[str, str, str], name: str) -> None:
    _assert_linear(LINEAR_FUNCS[name], *adversary)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(adversary=_adversary, name=st.sampled_from(sorted(LINEAR_FUNCS)))
def test_extractors_are_linear_on_adversarial_text(adversary: tuple[str, str, str], name: str) -> None:
    _assert_linear(LINEAR_FUNCS[name], *adversary)


@pytest.mark.slow
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(adversary=_adversary)
def test_event_extraction_is_linear_on_adversarial_text(adversary: tuple[str, str, str]) -> None:
    _assert_linear(_event, *adversary)
