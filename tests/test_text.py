from __future__ import annotations

import json
import logging

import pytest

from nlp.logs import JSONFormatter, PIIMaskingFilter
from nlp.pii import count_pii, find_pii, luhn_valid, mask_pii, valid_resident_id
from nlp.text import NormalizeOptions, join_title_text, normalize_text


def make_id(prefix17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(prefix17, weights, strict=True))
    return prefix17 + "10X98765432"[total % 11]


def make_card(prefix: str) -> str:
    for last in "0123456789":
        if luhn_valid(prefix + last):
            return prefix + last
    raise AssertionError


class TestNormalize:
    def test_fullwidth_letters_digits_and_space(self) -> None:
        assert normalize_text("ＡＢＣ１２３\u3000号楼") == "ABC123 号楼"

    def test_chinese_punctuation_is_kept(self) -> None:
        assert normalize_text("你好，请处理！谢谢。（急）") == "你好，请处理！谢谢。（急）"

    def test_controls_zero_width_and_whitespace_runs(self) -> None:
        assert normalize_text("垃\u200b圾\x00堆\ufeff积\t\t很\n\n\n  久  了 ") == "垃圾堆积 很 久 了"
        opts = NormalizeOptions(keep_newlines=True)
        assert normalize_text("第一行 \n\n\t 第二行", opts) == "第一行\n第二行"

    def test_html_remnants(self) -> None:
        assert (
            normalize_text("路灯不亮<br/>已经一周&nbsp;了&amp;没人管<p>请处理</p>")
            == "路灯不亮 已经一周 了&没人管 请处理"
        )

    def test_traditional_to_simplified_is_optional(self) -> None:
        assert normalize_text("噪音擾民嚴重") == "噪音擾民嚴重"
        assert (
            normalize_text("噪音擾民嚴重", NormalizeOptions(traditional_to_simplified=True)) == "噪音扰民严重"
        )

    def test_missing_values(self) -> None:
        assert normalize_text(None) == "" and normalize_text(float("nan")) == ""

    def test_join_title_text(self) -> None:
        assert join_title_text("噪音扰民", "工地夜间施工") == "噪音扰民。工地夜间施工"
        assert join_title_text("噪音扰民", "噪音扰民，工地夜间施工") == "噪音扰民，工地夜间施工"
        assert join_title_text("", "只有正文") == "只有正文"
        assert join_title_text("只有标题", None) == "只有标题"


class TestPII:
    def test_resident_id_checksum(self) -> None:
        good = make_id("11010519491231002")
        assert valid_resident_id(good)
        bad = good[:-1] + ("0" if good[-1] != "0" else "1")
        assert not valid_resident_id(bad)
        assert mask_pii(f"身份证{good}。") == "身份证[身份证号]。"
        # A checksum-invalid 18-digit number is not an ID (it may be an order number).
        assert "[身份证号]" not in mask_pii(f"订单{bad}")

    def test_id_with_x_check_digit(self) -> None:
        ids = [make_id(f"33010619850712{i:03d}") for i in range(200)]
        with_x = next(i for i in ids if i.endswith("X"))
        assert mask_pii(f"证件号码{with_x.lower()}") == "证件号码[身份证号]"

    @pytest.mark.parametrize(
        "text",
        [
            "13812345678",
            "138 1234 5678",
            "138-1234-5678",
            "+86 13812345678",
            "+8613812345678",
            "0086-13812345678",
        ],
    )
    def test_mobile_formats(self, text: str) -> None:
        assert mask_pii(f"联系我{text}谢谢") == "联系我[手机号]谢谢"

    @pytest.mark.parametrize(
        "text", ["0571-87654321", "(0571)87654321", "（010）62345678", "021 55667788", "0571-8765432转806"]
    )
    def test_landline_formats(self, text: str) -> None:
        assert mask_pii(f"电话{text}。") == "电话[电话]。"

    def test_bare_landline_after_keyword(self) -> None:
        assert mask_pii("物业电话：8765432，没人接") == "物业电话：[电话]，没人接"

    def test_email_plate_and_card(self) -> None:
        card = make_card("622202020001234567")
        text = f"邮箱zhang.san@example.com，车牌浙A·12345和苏E12345，新能源沪AD12345，卡号{card}"
        assert mask_pii(text) == "邮箱[邮箱]，车牌[车牌号]和[车牌号]，新能源[车牌号]，卡号[银行卡号]"

    def test_card_number_with_spaces_near_keyword(self) -> None:
        assert mask_pii("银行卡号 6222 0202 0001 2345 670 被扣款") == "银行卡号 [银行卡号] 被扣款"

    def test_ordinary_numbers_are_left_alone(self) -> None:
        text = "2019年5月3日，3号楼1201室，面积89.5平方米，费用1200元，第20190503号文件，共150户"
        assert mask_pii(text) == text
        assert find_pii(text) == []

    def test_count_pii_reports_kinds_only(self) -> None:
        counts = count_pii("电话13812345678，另一个13912345678，邮箱a@b.cn")
        assert counts == {"mobile": 2, "email": 1}


class TestLogMasking:
    def test_filter_masks_message_and_args(self) -> None:
        record = logging.LogRecord(
            "x", logging.INFO, __file__, 1, "row %s: %s", ("7", "来电13812345678"), None
        )
        PIIMaskingFilter().filter(record)
        assert record.getMessage() == "row 7: 来电[手机号]"

    def test_json_formatter_masks_extra_fields(self) -> None:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "request", None, None)
        record.text = "身份证" + make_id("11010519491231002")
        line = JSONFormatter().format(record)
        assert "[身份证号]" in line and "11010519491231002" not in line

    def test_json_formatter_masks_inside_lists_dicts_and_objects(self) -> None:
        class Caller:
            def __str__(self) -> str:
                return "来电13712345678"

        record = logging.LogRecord("x", logging.INFO, __file__, 1, "batch", None, None)
        record.texts = ["来电13812345678", {"caller": "13912345678"}]
        record.who = Caller()
        record.score = float("nan")
        line = JSONFormatter().format(record)
        parsed = json.loads(line)  # valid JSON: NaN is null
        assert parsed["texts"] == ["来电[手机号]", {"caller": "[手机号]"}]
        assert parsed["who"] == "来电[手机号]" and parsed["score"] is None
        assert not any(phone in line for phone in ("13812345678", "13912345678", "13712345678"))


def test_pad_aligns_chinese_labels_in_terminal_columns() -> None:
    from nlp.text import display_width, pad

    assert display_width("供水ABC") == 7 and display_width("ＡＢ") == 4
    rows = [pad(label, 14) + "|" for label in ("供水供电燃气", "市容环卫", "other")]
    assert {display_width(r) for r in rows} == {15}
    assert pad("很长很长很长很长", 4) == "很长很长很长很长"  # never cut
